// Optional private networking (main.bicep `vnetEnabled`), after Azure-Samples/functions-quickstart-dotnet-azd
// (infra/app/vnet.bicep, storage-PrivateEndpoint.bicep): a VNet with a subnet delegated to
// Microsoft.App/environments for the Flex app's outbound VNet integration, and a subnet for private endpoints
// to storage (blob: host + deployment package; table: sessions; queue: the call-notes queue the CallNotes trigger
// polls and the app writes to, issue 21) and to Key Vault (the API token reference), each with its private DNS zone linked to the VNet.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Virtual network name.')
param vnetName string

@description('Name prefix of the private endpoints.')
param privateEndpointPrefix string

@description('Storage account reached through blob, table and queue private endpoints.')
param storageAccountId string

@description('Key Vault reached through a vault private endpoint.')
param keyVaultId string

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        '10.0.0.0/16'
      ]
    }
    subnets: [
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: '10.0.1.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
        }
      }
      {
        // Flex Consumption VNet integration needs a subnet delegated to Microsoft.App/environments.
        name: appSubnetName
        properties: {
          addressPrefix: '10.0.2.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: appSubnetName
  }

  resource privateEndpointSubnet 'subnets' existing = {
    name: privateEndpointSubnetName
  }
}

// Key Vault's private DNS zone is privatelink.vaultcore.<cloud suffix>, its public one vault.<cloud suffix>.
var keyVaultZone = 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'

var endpoints = [
  {
    name: 'blob'
    groupId: 'blob'
    target: 'storage'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'table'
    groupId: 'table'
    target: 'storage'
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
  {
    name: 'queue'
    groupId: 'queue'
    target: 'storage'
    zone: 'privatelink.queue.${environment().suffixes.storage}'
  }
  {
    name: 'vault'
    groupId: 'vault'
    target: 'vault'
    zone: keyVaultZone
  }
]

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for e in endpoints: {
    name: e.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (e, i) in endpoints: {
    parent: zones[i]
    name: '${vnetName}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [
  for e in endpoints: {
    name: '${privateEndpointPrefix}${e.name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: vnet::privateEndpointSubnet.id
      }
      privateLinkServiceConnections: [
        {
          name: e.name
          properties: {
            privateLinkServiceId: e.target == 'vault' ? keyVaultId : storageAccountId
            groupIds: [
              e.groupId
            ]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [
  for (e, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: e.name
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]

@description('Subnet the function app integrates with (virtualNetworkSubnetId). Referencing it makes the app wait for this whole module, private endpoints and DNS links included.')
output appSubnetId string = vnet::appSubnet.id
