// Storage for the Functions host (identity-based AzureWebJobsStorage), the Flex deployment
// package container, the app's session table and the call-notes queues (issue 21). No account keys are usable:
// shared key is off.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob container Flex Consumption deploys the app package into.')
param deploymentContainerName string

@description('Table the app stores call sessions in (SessionStore__TableName).')
param sessionTableName string

@description('Queue a finished call\'s notes job is put on (the CallNotes queue trigger reads it).')
param notesQueueName string = 'call-notes'

@description('Zone-redundant storage (Standard_ZRS), required when the Flex plan is zone redundant; otherwise Standard_LRS.')
param zoneRedundant bool

@description('true: no public network access; the app reaches blob and table through private endpoints (network.bicep).')
param vnetEnabled bool

@description('Log Analytics workspace receiving the blob and table service logs.')
param logAnalyticsWorkspaceId string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // An existing account cannot be switched between LRS and ZRS by redeploying (that is a conversion).
    name: zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Entra ID only: the host, the deployment and the app all authenticate with the managed identity.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    // As in Azure-Samples/functions-quickstart-dotnet-azd: closed (no bypass) behind the VNet, open otherwise.
    networkAcls: vnetEnabled
      ? {
          defaultAction: 'Deny'
          bypass: 'None'
        }
      : {
          defaultAction: 'Allow'
          bypass: 'AzureServices'
        }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Created here so the app never needs table-create rights at run time.
resource sessionTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: sessionTableName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Both created here, so nothing needs queue-create rights at run time: the host moves a message that failed
// maxDequeueCount times to '<queue>-poison' (the host's naming rule; tools/FunctionsHost's README names its source).
resource notesQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for name in [notesQueueName, '${notesQueueName}-poison']: {
    parent: queueService
    name: name
  }
]

// No diagnostic setting on the queue service: the trigger polls every few seconds per instance (host.json
// maxPollingInterval), and logging each empty GetMessages would cost more Log Analytics ingestion than it tells.
var storageLogs = [
  { category: 'StorageRead', enabled: true }
  { category: 'StorageWrite', enabled: true }
  { category: 'StorageDelete', enabled: true }
]

// Resource logs of the two services the app uses (host blobs + deployment package, session table).
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: blobService
  name: 'to-log-analytics'
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: storageLogs
    metrics: [
      { category: 'Transaction', enabled: true }
    ]
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: tableService
  name: 'to-log-analytics'
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: storageLogs
    metrics: [
      { category: 'Transaction', enabled: true }
    ]
  }
}

output storageAccountName string = storage.name
output storageAccountId string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output notesQueueNames array = [for (name, i) in [notesQueueName, '${notesQueueName}-poison']: notesQueues[i].name]
output deploymentContainerName string = deploymentContainer.name
output sessionTableName string = sessionTable.name
