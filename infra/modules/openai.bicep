// The pipeline's chat model (issue 12): an Azure OpenAI account with one model deployment. Entra ID only
// (disableLocalAuth: no keys exist to leak); the app's identity gets "Cognitive Services OpenAI User" in rbac.bicep.

@description('Region of the account (the model and SKU must be offered there).')
param location string

@description('Resource tags.')
param tags object

@description('Account name; also its custom subdomain (<name>.openai.azure.com), which Entra ID auth requires.')
param accountName string

@description('Deployment name the app calls (ChatModel__Deployment).')
param deploymentName string

@description('Model name, e.g. gpt-4o-mini.')
param modelName string

@description('Model version, e.g. 2024-07-18.')
param modelVersion string

@description('Deployment SKU, e.g. GlobalStandard or Standard.')
param deploymentSku string

@description('Capacity in thousands of tokens per minute.')
@minValue(1)
param capacity int

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: accountName
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: deploymentSku
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
  }
}

output accountName string = account.name
output endpoint string = account.properties.endpoint
output deploymentName string = deployment.name
