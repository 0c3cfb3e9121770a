// The vault for the SaaS Manager client secret and the Exchange certificate. RBAC mode only:
// access policies are off, so roles assigned on this vault are the whole access story.

param name string
param location string
param tags object

@description('Purge protection cannot be turned off again; it keeps a deleted vault recoverable for softDeleteRetentionInDays.')
param enablePurgeProtection bool

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The service refuses an explicit false ("irreversible"), so leave it out instead.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
