// Every role assignment of the deployment lives here. Names are guid(scope, principal id, role), as
// Azure-Samples/functions-quickstart-dotnet-azd infra/app/rbac.bicep (fe74255) seeds them: re-deploying is idempotent,
// and an identity deleted and created again (new principal id, same resource id) gets new names instead of failing
// with RoleAssignmentUpdateNotPermitted on the old ones. The price: the names depend on a runtime value, so what-if
// cannot predict them before the identity exists (docs/infra.md).

@description('Storage account the host, the deployment package and the session table live in.')
param storageAccountName string

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Key Vault holding the API token.')
param keyVaultName string

@description('principalId (object id) of the function app\'s user-assigned identity.')
param appPrincipalId string


@description('principalId of the identity the log search alert rules query with.')
param alertPrincipalId string


@description('Optional object id of a user/group/service principal (e.g. the deploying developer) that gets the same storage data roles and Cognitive Services OpenAI User on the created account for local runs with DefaultAzureCredential. Empty = none.')
param developerPrincipalId string = ''

@description('Azure OpenAI account this deployment created (the pipeline\'s chat model); empty = none (an existing resource is granted by its owner).')
param openAiAccountName string = ''

@description('Type of developerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param developerPrincipalType string = 'User'

// Built-in role definition ids (identical in every Azure tenant).
var roles = {
  // Host keys/leases in blob storage and the Flex deployment container (read + write package).
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // The app's session table (SessionStore) and the host's table usage.
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Entra-authenticated telemetry ingestion (App Insights has local auth disabled).
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  // Resolving the @Microsoft.KeyVault(...) reference for AiFlow__ApiToken.
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  // Log search alert rules run their queries with the alert identity (App Insights local auth is off).
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
  // The call-notes queue (issue 21): the app puts a message on it at session_end / idle, the host's CallNotes trigger
  // reads, deletes and moves poison messages (a write to call-notes-poison: the reader/processor roles alone would not do).
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // Chat completions on the pipeline's model with an Entra ID token (the account has local auth off: no keys).
  cognitiveServicesOpenAiUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource openAiAccount 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = if (!empty(openAiAccountName)) {
  name: openAiAccountName
}

var storageRoles = [
  roles.storageBlobDataOwner
  roles.storageTableDataContributor
  roles.storageQueueDataContributor
]

resource appStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoles: {
    scope: storage
    name: guid(storage.id, appPrincipalId, roleId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: applicationInsights
  name: guid(applicationInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(openAiAccountName)) {
  scope: openAiAccount
  name: guid(openAiAccount.id, appPrincipalId, roles.cognitiveServicesOpenAiUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesOpenAiUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry from a local run with Entra auth (App Insights has local auth off).
resource developerMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  scope: applicationInsights
  name: guid(applicationInsights.id, developerPrincipalId, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

resource alertReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: applicationInsights
  name: guid(applicationInsights.id, alertPrincipalId, roles.reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.reader)
    principalId: alertPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Local runs against the created model with `az login` (DefaultAzureCredential): the account accepts no keys.
resource developerOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId) && !empty(openAiAccountName)) {
  scope: openAiAccount
  name: guid(openAiAccount.id, developerPrincipalId, roles.cognitiveServicesOpenAiUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesOpenAiUser)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

resource developerStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoles: if (!empty(developerPrincipalId)) {
    scope: storage
    name: guid(storage.id, developerPrincipalId, roleId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: developerPrincipalId
      principalType: developerPrincipalType
    }
  }
]
