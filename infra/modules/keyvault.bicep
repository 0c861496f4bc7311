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

@description('true when the default persona has a notes webhook: its signing secret is stored (a secure value cannot decide that: what-if and snapshots cannot read it).')
param notesWebhookEnabled bool = false

@description('Signing secret of the default persona\'s notes webhook (whsec_ + base64, docs/notes-webhook.md).')
@secure()
param notesWebhookSecret string = ''

@description('Name of the secret that stores it (the app setting it is referenced from is Personas__default__Notes__WebhookSecret).')
param notesWebhookSecretName string = 'Personas--default--Notes--WebhookSecret'

@description('Purge protection: recommended for production. Once on it cannot be turned off, and the vault name stays taken for the retention period after deletion.')
param enablePurgeProtection bool

@description('true: no public network access; the app resolves the reference through a private endpoint (network.bicep).')
param vnetEnabled bool

@description('Log Analytics workspace receiving the AuditEvent log.')
param logAnalyticsWorkspaceId string

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
    // Fixed: retention cannot be changed after the vault is created. 7 days lets a torn-down test environment
    // be recreated soon; with purge protection on, a deleted vault still cannot be purged before it elapses.
    softDeleteRetentionInDays: 7
    // Key Vault rejects "false" once purge protection was on, so the property is only ever sent as true.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
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

// The notes webhook's signing secret, only with a webhook (issue 21): the app setting carries a reference to it. A
// webhook without a secret stores an empty one, which the worker refuses at start-up (WebhookSecret required).
resource notesWebhookSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (notesWebhookEnabled) {
  parent: vault
  name: notesWebhookSecretName
  properties: {
    value: notesWebhookSecret
    contentType: 'text/plain'
  }
}

// Who read or changed the secret, and when.
resource auditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: vault
  name: 'to-log-analytics'
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      { category: 'AuditEvent', enabled: true }
    ]
  }
}

output keyVaultName string = vault.name
output keyVaultId string = vault.id
// Versionless URI: the app picks up a rotated token on its next reference refresh.
output apiTokenReferenceUri string = '${vault.properties.vaultUri}secrets/${apiTokenSecret.name}'
// Versionless too.
output notesWebhookSecretReferenceUri string = '${vault.properties.vaultUri}secrets/${notesWebhookSecretName}'
