// Flex Consumption (FC1, Linux) plan + function app running the VoiceFunctions custom handler.
// See docs/infra.md for why the runtime is dotnet-isolated 10.0 and which settings Flex forbids.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('App Service plan name.')
param planName string

@description('Function app name (becomes <name>.azurewebsites.net).')
param functionAppName string

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

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Table the app stores sessions in.')
param sessionTableName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Versionless Key Vault secret URI of the API token.')
param apiTokenReferenceUri string

@description('Flex runtime stack (docs/infra.md).')
@allowed([
  'dotnet-isolated'
  'custom'
])
param runtimeName string

@description('Flex runtime version, e.g. 10.0 for dotnet-isolated.')
param runtimeVersion string

@description('Always-ready instances for the "http" trigger group (0 = scale to zero, cold starts possible).')
@minValue(0)
@maxValue(20)
param alwaysReadyHttpInstances int

@description('Instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Maximum scale-out instance count.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('App settings derived from the persona parameters.')
param personaSettings object

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
  }
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  name: functionAppName
  location: location
  // azd-style service tag so `azd deploy` could find the app later without changes here.
  tags: union(tags, { 'azd-service-name': 'voicefunctions' })
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
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
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
        // sipgate hangs up after ~1 s: an always-ready instance keeps the first call off a cold start.
        alwaysReady: alwaysReadyHttpInstances > 0
          ? [
              {
                name: 'http'
                instanceCount: alwaysReadyHttpInstances
              }
            ]
          : []
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
  }
}

// No FTP and no Kudu basic auth: deployments authenticate with Entra ID (az / func use a bearer token).
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The settings the handler reads at start-up (docs/infra.md, "App settings contract"). Listed last in
// union() so extraAppSettings can add keys but never replace these.
var ownedSettings = {
  // Host storage, identity-based (no AzureWebJobsStorage connection string exists).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // The app's session store, same identity.
  SessionStore__TableServiceUri: tableEndpoint
  SessionStore__ClientId: identityClientId
  SessionStore__TableName: sessionTableName
  // The secret stays in Key Vault; the app sees the resolved value as configuration.
  AiFlow__ApiToken: '@Microsoft.KeyVault(SecretUri=${apiTokenReferenceUri})'
  // Telemetry with Entra auth (App Insights local auth is disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Separate resource so settings can be computed from other modules' outputs; it replaces the whole set.
resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(extraAppSettings, personaSettings, ownedSettings)
}

output functionAppName string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
