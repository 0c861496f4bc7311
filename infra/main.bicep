// VoiceFunctions: sipgate AI Flow webhook on Azure Functions Flex Consumption (.NET 10 isolated worker).
// Resource-group scoped: `az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam`,
// or `azd up` (azure.yaml at the repo root). Local modules only (no br/public registry modules) so the
// template compiles offline in the tests. Conventions of Azure-Samples/functions-quickstart-dotnet-azd:
// names from abbreviations.json + resourceToken, every role assignment in modules/rbac.bicep.
targetScope = 'resourceGroup'

import { deploymentContainerName as containerNameFor } from 'naming.bicep'

@minLength(1)
@maxLength(40)
@description('Environment name; with the subscription, resource group and region it seeds every resource name.')
param environmentName string

@description('Azure region (must offer Flex Consumption: `az functionapp list-flexconsumption-locations`).')
param location string = resourceGroup().location

@description('Optional explicit function app name (2-60 characters, letters, digits, hyphens); empty = func-voice-<token>.')
@maxLength(60)
param functionAppName string = ''

@description('The X-API-TOKEN sipgate AI Flow sends; stored only in Key Vault. At least 16 characters.')
@secure()
@minLength(16)
param apiToken string

@description('The persona named "default" the app requires.')
param defaultPersona personaType

@description('NCRONTAB schedule of the RetentionPurge timer (app setting RetentionSchedule, a flat name: the host resolves it in the trigger). Default: daily at 03:00 UTC.')
param retentionSchedule string = '0 0 3 * * *'

@description('More app settings merged in, e.g. further personas: { "Personas__sales__SystemPrompt": "..." }. Must not contain secrets or connection strings.')
param extraAppSettings object = {}

@description('Always-ready instances for the HTTP trigger group; 1 keeps the first call of the day off a cold start.')
@minValue(0)
@maxValue(20)
param alwaysReadyHttpInstances int = 1

@description('Flex instance memory in MB: 2048 or 4096, the sizes every Flex region accepts (512 is not offered here: docs/infra.md).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on scale-out (Flex accepts 1-1000; docs/infra.md).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Private networking: VNet integration (subnet delegated to Microsoft.App/environments), private endpoints + DNS zones for storage blob/table/queue and Key Vault, public network access off on both.')
param vnetEnabled bool = false

@description('Zone-redundant Flex plan and ZRS storage (only in regions where Flex offers availability zones; the platform then keeps at least 2 always-ready instances in every scaling group: the http group and one per other function (RetentionPurge, CallNotes, CallNotesPoison, CallNotesIdleSweep), so at least 10 billed instances; docs/infra.md). Cannot be toggled on an existing storage account by redeploying.')
param zoneRedundant bool = false

@description('Key Vault purge protection; recommended true for production. Irreversible once deployed.')
param enablePurgeProtection bool = false

@description('Table the app keeps call sessions in.')
param sessionTableName string = 'VoiceSessions'

@description('E-mail address that receives every alert (action group). Empty = no action group; the alerts deploy silent.')
param alertEmail string = ''

@description('Table Storage failures (failed calls + steps not stored) per 15 minutes above which to alert.')
@minValue(0)
param storageFailureThreshold int = 5

@description('p95 answer time (ms) of the webhook above which to alert; the response budget is 800 ms, sipgate\'s deadline 1 s.')
@minValue(1)
param answerP95ThresholdMs int = 800

@description('Alert when no call started during an hour of business time (Mon-Fri 09-17 Europe/Berlin, docs/kql/alert-no-calls-business-hours.kql).')
param noCallsAlertEnabled bool = false

@description('Optional object id of the deploying user to grant the storage data roles, Monitoring Metrics Publisher on App Insights and Cognitive Services OpenAI User on the created model account (local runs against the cloud resources). Empty = none.')
param developerPrincipalId string = ''

@description('Type of developerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param developerPrincipalType string = 'User'

@description('false = no chat model at all: no account, no model deployment, no ChatModel__ settings (every persona voice-to-voice; a pipeline persona then stops the worker at start-up).')
param chatModelEnabled bool = true

@description('Endpoint of an existing Azure OpenAI resource (https://<name>.openai.azure.com/). Empty = this deployment creates an account and a model deployment. With an existing one, grant the app\'s identity "Cognitive Services OpenAI User" on it yourself (docs/deploy.md).')
param openAiEndpoint string = ''

@description('Deployment the app calls (ChatModel__Deployment): created with the account, or the name of one on the existing resource.')
param openAiDeploymentName string = 'chat'

@description('Model of the created deployment: GA and open to new customers in the region (docs/infra.md, "Choosing the model").')
param openAiModelName string = 'gpt-5.4'

@description('Model version of the created deployment.')
param openAiModelVersion string = '2026-03-05'

@description('How the app asks the model (ChatModel__Family): Reasoning (gpt-5 family, o-series), Classic (gpt-4o, gpt-4.1) or Auto (learned from the first refusal). Empty = Reasoning for the created deployment (the default model is one), Auto for an existing endpoint.')
@allowed([
  ''
  'Auto'
  'Classic'
  'Reasoning'
])
param chatModelFamily string = ''

@description('SKU of the created deployment (GlobalStandard, Standard, ...).')
param openAiDeploymentSku string = 'GlobalStandard'

@description('Capacity of the created deployment in thousands of tokens per minute.')
@minValue(1)
param openAiCapacity int = 30

@description('Region of the created Azure OpenAI account (the model must be offered there); empty = location.')
param openAiLocation string = ''

@description('Signing secret of the default persona\'s notes webhook (defaultPersona.notesWebhookUrl): "whsec_" + base64 of 24-64 random bytes (docs/notes-webhook.md). Stored only in Key Vault; the app setting is a reference. Empty = none.')
@secure()
param notesWebhookSecret string = ''

@description('Always-ready instances for the CallNotes queue trigger (scaling group function:CallNotes); 0 = none: notes may wait for a cold start.')
@minValue(0)
@maxValue(20)
param alwaysReadyNotesInstances int = 0

@description('How long a call may be silent without session_end before its notes are written anyway (Notes__IdleAfter, hh:mm:ss).')
param notesIdleAfter string = '00:30:00'

@description('false = no call notes (Notes__Enabled): nothing is queued at session_end.')
param notesEnabled bool = true

@description('Persona settings; optional fields are only written when given.')
type personaType = {
  @description('System prompt (Personas__<name>__SystemPrompt), required.')
  @minLength(1)
  systemPrompt: string
  @description('First sentence spoken to the caller.')
  greeting: string?
  @description('Language tag, e.g. de-DE.')
  language: string?
  @description('Sampling temperature as text, e.g. "0.4".')
  temperature: string?
  @description('Voice-to-voice mode.')
  voiceToVoice: bool?
  @description('Phone number or SIP target escalations are transferred to.')
  transferTarget: string?
  @description('Reasons the call notes may give (Personas__<name>__Notes__Reasons__<i>); anything else is "other".')
  notesReasons: string[]?
  @description('https URL the call notes are POSTed to, signed (docs/notes-webhook.md); needs notesWebhookSecret.')
  notesWebhookUrl: string?
}

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  app: 'voicefunctions'
}
var storageAccountName = '${abbrs.storageStorageAccounts}${resourceToken}'
var applicationInsightsName = '${abbrs.insightsComponents}${resourceToken}'
var keyVaultName = '${abbrs.keyVaultVaults}${resourceToken}'
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}voice-${resourceToken}'
var createOpenAi = chatModelEnabled && empty(openAiEndpoint)
var openAiAccountName = '${abbrs.cognitiveServicesAccounts}voice-${resourceToken}'
// Flex needs its own package container; any app name yields a valid container name (naming.bicep).
var deploymentContainerName = containerNameFor(appName, resourceToken)

var personaSettings = union(
  {
    Personas__default__SystemPrompt: defaultPersona.systemPrompt
  },
  empty(defaultPersona.?greeting ?? '') ? {} : { Personas__default__Greeting: defaultPersona.greeting! },
  empty(defaultPersona.?language ?? '') ? {} : { Personas__default__Language: defaultPersona.language! },
  empty(defaultPersona.?temperature ?? '') ? {} : { Personas__default__Temperature: defaultPersona.temperature! },
  defaultPersona.?voiceToVoice == null ? {} : { Personas__default__VoiceToVoice: defaultPersona.voiceToVoice! ? 'true' : 'false' },
  empty(defaultPersona.?transferTarget ?? '')
    ? {}
    : { Personas__default__Escalation__TransferTarget: defaultPersona.transferTarget! },
  // A list in configuration is one key per index (Microsoft.Extensions.Configuration binder).
  toObject(range(0, length(defaultPersona.?notesReasons ?? [])), i => 'Personas__default__Notes__Reasons__${i}', i => defaultPersona.notesReasons![i]),
  // The secret stays in Key Vault (keyvault.bicep); the setting is a reference, as for AiFlow__ApiToken.
  empty(defaultPersona.?notesWebhookUrl ?? '')
    ? {}
    : {
        Personas__default__Notes__WebhookUrl: defaultPersona.notesWebhookUrl!
        Personas__default__Notes__WebhookSecret: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.notesWebhookSecretReferenceUri})'
      }
)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${abbrs.managedIdentityUserAssignedIdentities}voice-${resourceToken}'
  location: location
  tags: tags
}

// The log search alert rules query App Insights (local auth off) with this identity; Reader on the component.
resource alertIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${abbrs.managedIdentityUserAssignedIdentities}alerts-${resourceToken}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: applicationInsightsName
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    storageAccountName: storageAccountName
    deploymentContainerName: deploymentContainerName
    sessionTableName: sessionTableName
    zoneRedundant: zoneRedundant
    vnetEnabled: vnetEnabled
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    keyVaultName: keyVaultName
    apiToken: apiToken
    notesWebhookEnabled: !empty(defaultPersona.?notesWebhookUrl ?? '')
    notesWebhookSecret: notesWebhookSecret
    enablePurgeProtection: enablePurgeProtection
    vnetEnabled: vnetEnabled
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module network 'modules/network.bicep' = if (vnetEnabled) {
  name: 'network'
  params: {
    location: location
    tags: tags
    vnetName: '${abbrs.networkVirtualNetworks}${resourceToken}'
    privateEndpointPrefix: '${abbrs.networkPrivateEndpoints}${resourceToken}-'
    storageAccountId: storage.outputs.storageAccountId
    keyVaultId: keyVault.outputs.keyVaultId
  }
}

module openAi 'modules/openai.bicep' = if (createOpenAi) {
  name: 'openai'
  params: {
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    accountName: openAiAccountName
    deploymentName: openAiDeploymentName
    modelName: openAiModelName
    modelVersion: openAiModelVersion
    deploymentSku: openAiDeploymentSku
    capacity: openAiCapacity
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    // Scope names are computed here rather than taken from module outputs (what-if can resolve the scopes).
    storageAccountName: storageAccountName
    applicationInsightsName: applicationInsightsName
    keyVaultName: keyVaultName
    // Seeds the assignment names (a recreated identity gets new ones: RoleAssignmentUpdateNotPermitted otherwise); what-if
    // then cannot predict those names before the identity exists, which docs/infra.md accepts.
    #disable-next-line what-if-short-circuiting
    appPrincipalId: identity.properties.principalId
    #disable-next-line what-if-short-circuiting
    alertPrincipalId: alertIdentity.properties.principalId
    developerPrincipalId: developerPrincipalId
    developerPrincipalType: developerPrincipalType
    openAiAccountName: createOpenAi ? openAiAccountName : ''
  }
  // The names above are known before deployment, so nothing implies that the scopes exist yet: without these
  // the assignments race the storage account, App Insights, Key Vault and the OpenAI account on a first deployment.
  dependsOn: [
    storage
    monitoring
    keyVault
    openAi
  ]
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    tags: tags
    planName: '${abbrs.webServerFarms}${resourceToken}'
    functionAppName: appName
    serviceName: 'api'
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.storageAccountName
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    alwaysReadyNotesInstances: alwaysReadyNotesInstances
    notesIdleAfter: notesIdleAfter
    notesEnabled: notesEnabled
    deploymentContainerName: storage.outputs.deploymentContainerName
    sessionTableName: storage.outputs.sessionTableName
    retentionSchedule: retentionSchedule
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    apiTokenReferenceUri: keyVault.outputs.apiTokenReferenceUri
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    zoneRedundant: zoneRedundant
    // Referencing the network module's output also makes the app wait for the private endpoints and DNS links.
    virtualNetworkSubnetId: vnetEnabled ? network!.outputs.appSubnetId : ''
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    personaSettings: personaSettings
    extraAppSettings: extraAppSettings
    chatModelEnabled: chatModelEnabled
    chatModelEndpoint: !chatModelEnabled ? '' : createOpenAi ? openAi!.outputs.endpoint : openAiEndpoint
    chatModelDeployment: createOpenAi ? openAi!.outputs.deploymentName : openAiDeploymentName
    chatModelFamily: !empty(chatModelFamily) ? chatModelFamily : createOpenAi ? 'Reasoning' : 'Auto'
  }
  // The host starts as soon as the site exists: its storage, Key Vault and telemetry roles must be in place first.
  dependsOn: [
    rbac
  ]
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    applicationInsightsName: applicationInsightsName
    displayName: 'VoiceFunctions operations (${environmentName})'
  }
  dependsOn: [
    monitoring
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertIdentityId: alertIdentity.id
    rulePrefix: '${abbrs.insightsScheduledQueryRules}${resourceToken}-'
    actionGroupName: '${abbrs.insightsActionGroups}${resourceToken}'
    alertEmail: alertEmail
    storageFailureThreshold: storageFailureThreshold
    answerP95ThresholdMs: answerP95ThresholdMs
    noCallsAlertEnabled: noCallsAlertEnabled
  }
  // The rules' identity needs its Reader role on App Insights before they first run.
  dependsOn: [
    rbac
  ]
}

output functionAppName string = functionApp.outputs.functionAppName
output defaultHostName string = functionApp.outputs.defaultHostName
@description('Register this in sipgate AI Flow with ?code=<function key> appended (docs/deploy.md).')
output webhookUrl string = 'https://${functionApp.outputs.defaultHostName}/api/events'
output keyVaultName string = keyVault.outputs.keyVaultName
output storageAccountName string = storage.outputs.storageAccountName
output chatModelEndpoint string = !chatModelEnabled ? '' : createOpenAi ? openAi!.outputs.endpoint : openAiEndpoint
