// Key Vault (RBAC mode) holding the sipgate AI Flow API token, so the token lives in the vault and
// the function app only carries a @Microsoft.KeyVault(...) reference in its settings.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Key Vault name (3-24 chars, globally unique).')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('The X-API-TOKEN shared with the sipgate AI Flow dashboard.')
@secure()
param apiToken string

@description('Name of the secret that stores the API token.')
param apiTokenSecretName string = 'AiFlow--ApiToken'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Authorization via Azure RBAC only (no access policies): rbac.bicep grants Key Vault Secrets User.
    enableRbacAuthorization: true
    enableSoftDelete: true
    // Short retention and no purge protection so a torn-down test environment can be recreated/purged.
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

// Written through the ARM control plane, so the deployer needs no data-plane role on the vault.
resource apiTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: apiTokenSecretName
  properties: {
    value: apiToken
    contentType: 'text/plain'
  }
}

output keyVaultName string = vault.name
// Versionless URI: the app picks up a rotated token on its next reference refresh.
output apiTokenReferenceUri string = '${vault.properties.vaultUri}secrets/${apiTokenSecret.name}'
