// Flex Consumption (FC1, Linux) plan + function app running VoiceFunctions as a .NET 10 isolated worker.
// See docs/infra.md for the runtime, the settings and site properties Flex forbids, and the sources.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('App Service plan name.')
param planName string

@description('Function app name (becomes <name>.azurewebsites.net).')
param functionAppName string

@description('azd service name (azure.yaml `services`); azd finds the app by the azd-service-name tag.')
param serviceName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('clientId of the user-assigned identity (selects it for DefaultAzureCredential / host storage).')
param identityClientId string

@description('Storage account used for host storage.')
param storageAccountName string

@description('Blob endpoint of the storage account, ending in "/".')
param blobEndpoint string

@description('Table endpoint of the storage account (SessionStore__TableServiceUri).')
param tableEndpoint string

@description('Queue endpoint of the storage account (AzureWebJobsStorage__queueServiceUri: the CallNotes trigger and the app\'s enqueue).')
param queueEndpoint string

@description('Always-ready instances for the CallNotes queue trigger\'s own scaling group (function:CallNotes); 0 = none, scale from zero.')
@minValue(0)
@maxValue(20)
param alwaysReadyNotesInstances int = 0

@description('How long a call may be silent without session_end before the idle sweep queues its notes (Notes__IdleAfter, a TimeSpan).')
param notesIdleAfter string = '00:30:00'

@description('false = no call notes at all (Notes__Enabled).')
param notesEnabled bool = true

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Table the app stores sessions in.')
param sessionTableName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Versionless Key Vault secret URI of the API token.')
param apiTokenReferenceUri string

@description('Always-ready instances for the "http" trigger group (0 = scale to zero, cold starts possible).')
@minValue(0)
@maxValue(20)
param alwaysReadyHttpInstances int

@description('Instance memory in MB (the sizes Flex Consumption documents: 2048, 4096).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int

@description('Maximum scale-out instance count.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Zone-redundant plan (Flex supports it in some regions; the storage account must be ZRS).')
param zoneRedundant bool

@description('Subnet (delegated to Microsoft.App/environments) for outbound VNet integration; empty = none.')
param virtualNetworkSubnetId string

@description('Log Analytics workspace receiving FunctionAppLogs.')
param logAnalyticsWorkspaceId string

@description('false = no chat model (voice-to-voice personas only): no ChatModel__ setting is written.')
param chatModelEnabled bool = true

@description('Azure OpenAI endpoint of the pipeline\'s chat model (ChatModel__Endpoint).')
param chatModelEndpoint string

@description('How the app asks the model (ChatModel__Family): Auto, Classic or Reasoning (main.bicep checks the value).')
param chatModelFamily string = 'Auto'

@description('Model deployment the pipeline calls (ChatModel__Deployment).')
param chatModelDeployment string

@description('App settings derived from the persona parameters.')
param personaSettings object

@description('NCRONTAB schedule of the RetentionPurge timer.')
param retentionSchedule string

@description('Additional app settings (e.g. more personas). Cannot override the settings this template owns.')
param extraAppSettings object

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // Linux.
    reserved: true
    // With zone redundancy the platform keeps at least 2 always-ready instances per group (billed as such).
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  name: functionAppName
  location: location
  // azd-service-name: `azd deploy` publishes the `api` service of azure.yaml to this app.
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references are resolved with the user-assigned identity (there is no system identity).
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    // Only properties Flex accepts: no ftpsState, alwaysOn, linuxFxVersion, netFrameworkVersion,
    // functionAppScaleLimit, preWarmedInstanceCount (docs/infra.md, "Forbidden on Flex").
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        // sipgate hangs up after ~1 s: an always-ready instance keeps the first call off a cold start. The queue-triggered
        // CallNotes scales in its own group, "function:CallNotes" (Flex: every non-HTTP function scales on its own; the
        // name format is Learn "Create and manage function apps in the Flex Consumption plan", "Set always ready
        // instance counts": function:<FUNCTION_NAME>). Notes may wait for a cold start, so none by default.
        alwaysReady: concat(
          alwaysReadyHttpInstances > 0
            ? [
                {
                  name: 'http'
                  instanceCount: alwaysReadyHttpInstances
                }
              ]
            : [],
          alwaysReadyNotesInstances > 0
            ? [
                {
                  name: 'function:CallNotes'
                  instanceCount: alwaysReadyNotesInstances
                }
              ]
            : []
        )
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      // The isolated worker: on Flex the runtime is chosen here, never by FUNCTIONS_WORKER_RUNTIME.
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }
}

// No Kudu basic auth: `func` and `az` publish to /api/publish with an Entra token. (No "ftp" policy: Flex has no
// FTP endpoint and Microsoft's Flex samples send neither policy; docs/infra.md.)
resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The settings the worker reads at start-up (docs/infra.md, "App settings contract"). Listed last in
// union() so extraAppSettings can add keys but never replace these.
var ownedSettings = {
  // Host storage, identity-based (no AzureWebJobsStorage connection string exists): the host's blob leases,
  // keys and the RetentionPurge timer's schedule monitor live here.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // The call-notes queue (issue 21), same identity. The host's storage extensions take <prefix>__queueServiceUri before
  // deriving https://<accountName>.queue.core.windows.net, so the account's real endpoint holds in every cloud.
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  Notes__Enabled: notesEnabled ? 'true' : 'false'
  Notes__IdleAfter: notesIdleAfter
  // The app's session store, same identity.
  SessionStore__TableServiceUri: tableEndpoint
  SessionStore__ClientId: identityClientId
  SessionStore__TableName: sessionTableName
  // The retention timer's schedule: the host resolves %RetentionSchedule% in the trigger and refuses the function
  // without it (a flat name: nested ones are reported not to resolve in trigger expressions on Linux).
  RetentionSchedule: retentionSchedule
  // The secret stays in Key Vault; the worker sees the resolved value as configuration (and refuses to start
  // while the value still reads "@Microsoft.KeyVault(", i.e. the reference did not resolve: docs/deploy.md).
  AiFlow__ApiToken: '@Microsoft.KeyVault(SecretUri=${apiTokenReferenceUri})'
  // Telemetry with Entra auth (App Insights local auth is disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// The pipeline's chat model with the same identity (Entra ID token; no key exists: the account has local auth off).
// None without a model: a pipeline persona then stops the worker at start-up with the ChatModel:Endpoint error.
var chatModelSettings = !chatModelEnabled ? {} : {
  ChatModel__Endpoint: chatModelEndpoint
  ChatModel__Deployment: chatModelDeployment
  ChatModel__ClientId: identityClientId
  ChatModel__Family: chatModelFamily
}

// Separate resource so settings can be computed from other modules' outputs; it replaces the whole set.
resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(extraAppSettings, personaSettings, chatModelSettings, ownedSettings)
}

resource appLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: functionApp
  name: 'to-log-analytics'
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      { category: 'FunctionAppLogs', enabled: true }
    ]
  }
}

output functionAppName string = functionApp.name
output functionAppId string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
