// exo-workflow-sync on Azure (azd layout): one resource group with the Function App (Linux custom
// container on Elastic Premium), its user-assigned identity, Key Vault (RBAC), storage without
// shared keys, Application Insights with Entra auth, and the registry azd builds the image in.
//
// Parameters in UPPER_CASE are the app's settings under their app setting names, so one name
// means the same thing everywhere: `azd env set DRY_RUN true` -> parameter DRY_RUN -> app
// setting DRY_RUN (infra/main.parameters.json maps each one to the azd variable of that name).
// Defaults equal the app's own defaults (shared/config.ts DEFAULTS; a test checks it).

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('Object id of the admin running azd (set by azd); gets the vault officer roles and image push. Empty to skip.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
@description('Kind of principal principalId is (set by azd).')
param principalType string = 'User'

@description('Image azd last deployed (set by azd after the first deploy); empty before that.')
param appImageName string = ''

@description('Keep the vault recoverable (cannot be turned off again once on).')
param keyVaultPurgeProtection bool = true

@description('Days of logs kept in Log Analytics / Application Insights.')
param logRetentionInDays int = 90

@description('Name of the Key Vault secret holding the SaaS Manager API client secret.')
param trelicaClientSecretName string = 'trelica-client-secret'

@minValue(1)
@maxValue(20)
@description('Most instances the app may scale to; lowered so instances x EXO_SESSIONS stays within the session cap (8).')
param maximumInstanceCount int = 2

// --- the app's settings ------------------------------------------------------------------------

@description('SaaS Manager host; https://eu.trelica.com in the EU.')
param TRELICA_BASE_URL string = 'https://app.trelica.com'

@minLength(1)
@description('SaaS Manager API client id (Workflows.Read, Workflows.Runs.Read, Workflows.Runs.Execute).')
param TRELICA_CLIENT_ID string

@description('Runs per page when listing waiting runs (1-1000).')
param TRELICA_PAGE_SIZE string = '100'

@description('Comma-separated workflow names.')
param WORKFLOW_NAMES string = 'Terminate Users'

@description('The Signal step that waits for us.')
param WORKFLOW_STEP_NAME string = 'Signal'

@description('The action to POST when done.')
param WORKFLOW_ACTION_NAME string = 'Continue'

@allowed(['certificate', 'managedIdentity'])
@description('How Exchange Online is signed in to: the Entra app\'s certificate, or this app\'s managed identity.')
param EXO_AUTH string = 'certificate'

@description('Entra application (client) id; required when EXO_AUTH=certificate.')
param EXO_APP_ID string = ''

@minLength(1)
@description('The tenant\'s primary .onmicrosoft.com domain, e.g. contoso.onmicrosoft.com.')
param EXO_ORGANIZATION string

@description('Comma-separated Exchange actions to run for each leaver.')
param EXO_ACTIONS string = 'convertToShared,grantManagerFullAccess,grantManagerSendAs,removeFromDistributionGroups'

@allowed(['true', 'false'])
@description('Add the shared mailbox to the manager\'s Outlook (FullAccess -AutoMapping).')
param EXO_AUTOMAPPING string = 'true'

@description('Timeout in seconds for one PowerShell call (one run\'s plan, or connecting).')
param EXO_CALL_TIMEOUT_SECONDS string = '120'

@allowed(['true', 'false'])
@description('Accept a leaver whose mailbox is already shared when a run first sees it (converted by hand).')
param EXO_ACCEPT_SHARED_LEAVERS string = 'false'

@description('Comma-separated addresses no run may change or grant to (a group protects its direct members). Empty for none.')
param EXO_PROTECTED_RECIPIENTS string = ''

@description('Profile file (JSON) mapping each workflow to its actions, options and run variables, e.g. /home/site/wwwroot/exo-profiles.json. Empty: EXO_ACTIONS for every workflow.')
param EXO_PROFILES_PATH string = ''

@description('Failed attempts after which a run is given up (not retried silently any more).')
param EXO_MAX_ATTEMPTS string = '5'

@description('Action to POST when a run is given up (e.g. Failed). Empty: the run stays waiting and is reported failed.')
param WORKFLOW_FAILURE_ACTION_NAME string = ''

@description('Days the run journal keeps a run after its last activity (pruned by the timer).')
param EXO_JOURNAL_DAYS string = '400'

@description('NCRONTAB (six fields, UTC) for the verify timer (re-checks completed runs, reports drift, changes nothing). Empty: no verify timer.')
param VERIFY_SCHEDULE string = ''

@description('Days back the verify timer looks for completed runs (journal activity).')
param VERIFY_SINCE_DAYS string = '30'

@description('Name of the certificate in Key Vault.')
param EXO_CERTIFICATE_NAME string = 'exo-app-only'

@allowed(['true', 'false'])
@description('Plan only: no Exchange change, no signal.')
param DRY_RUN string = 'false'

@description('NCRONTAB (six fields, UTC) for the timer.')
param SWEEP_SCHEDULE string = '0 0 * * * *'

@description('Seconds an HTTP-triggered sweep may spend before it answers (10-220).')
param HTTP_SWEEP_BUDGET_SECONDS string = '200'

@allowed(['', '1', '2', '3', '4', '5', '6', '7', '8'])
@description('Exchange sessions (PowerShell processes) per instance, 1-8; also the queue trigger\'s batch size.')
param EXO_SESSIONS string = '4'

@allowed(['', 'inline', 'queue'])
@description('queue: the timer puts one message per waiting run on the exo-runs queue and every instance works through it; inline: the timer sweeps itself.')
param SWEEP_MODE string = 'queue'

// The global cap (docs/deploy.md, "Scale"): at most this many Exchange sessions at once for the app
// identity, over every instance. The instance limit is the cap divided by the sessions per instance.
var exchangeSessionCap = 8
var sessionsPerInstance = int(empty(EXO_SESSIONS) ? '4' : EXO_SESSIONS)
var instanceLimit = min(maximumInstanceCount, max(1, exchangeSessionCap / sessionsPerInstance))

// --- names -------------------------------------------------------------------------------------

var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

// Names are computed here (not read back from module outputs) so What-If can predict them.
var names = {
  identity: 'id-${resourceToken}'
  storage: 'st${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  registry: 'cr${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
}

// Must match the service name in azure.yaml (azd deploys to the site carrying this tag).
var serviceName = 'app'

// Until azd has deployed our image, the site runs the empty Functions host our image builds on.
var placeholderImage = 'mcr.microsoft.com/azure-functions/node:4-node22-appservice'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
  }
}

module registry 'core/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: names.registry
    location: location
    tags: tags
  }
}

module rbac 'core/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  // It only looks the resources up by name, so it has to wait for them explicitly.
  dependsOn: [identity, storage, keyVault, monitoring, registry]
  params: {
    appIdentityName: names.identity
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    storageAccountName: names.storage
    keyVaultName: names.keyVault
    applicationInsightsName: names.applicationInsights
    registryName: names.registry
    grantCertificateUser: EXO_AUTH == 'certificate'
  }
}

// Every app setting, by name. test/unit/infra.test.ts reads this block: each setting of
// shared/config.ts SETTINGS must be here (AzureWebJobsStorage in its identity-based form), and
// the local-development-only ones (EXO_CERTIFICATE_PATH, EXO_CERTIFICATE_PASSWORD) must not.
var appSettings = {
  // Functions platform
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'node'
  // The app is inside the image; a mounted /home share would hide it.
  WEBSITES_ENABLE_APP_SERVICE_STORAGE: 'false'
  // Host storage, run claims (blobs) and run records (table), signed in with the identity (the account
  // has no shared keys).
  AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  // Telemetry, signed in with the identity (the component has local auth disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'

  // SaaS Manager
  TRELICA_BASE_URL: TRELICA_BASE_URL
  TRELICA_CLIENT_ID: TRELICA_CLIENT_ID
  // Versionless reference: a new secret version is picked up without a redeploy.
  TRELICA_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${trelicaClientSecretName}/)'
  TRELICA_PAGE_SIZE: TRELICA_PAGE_SIZE
  WORKFLOW_NAMES: WORKFLOW_NAMES
  WORKFLOW_STEP_NAME: WORKFLOW_STEP_NAME
  WORKFLOW_ACTION_NAME: WORKFLOW_ACTION_NAME

  // Exchange Online
  EXO_AUTH: EXO_AUTH
  EXO_APP_ID: EXO_APP_ID
  EXO_ORGANIZATION: EXO_ORGANIZATION
  // Used by EXO_AUTH=managedIdentity (Connect-ExchangeOnline -ManagedIdentityAccountId).
  EXO_MANAGED_IDENTITY_ID: identity.outputs.clientId
  EXO_ACTIONS: EXO_ACTIONS
  EXO_AUTOMAPPING: EXO_AUTOMAPPING
  EXO_CALL_TIMEOUT_SECONDS: EXO_CALL_TIMEOUT_SECONDS
  EXO_ACCEPT_SHARED_LEAVERS: EXO_ACCEPT_SHARED_LEAVERS
  EXO_PROTECTED_RECIPIENTS: EXO_PROTECTED_RECIPIENTS
  EXO_PROFILES_PATH: EXO_PROFILES_PATH

  // The certificate in Key Vault, read with the identity
  KEY_VAULT_URL: keyVault.outputs.uri
  EXO_CERTIFICATE_NAME: EXO_CERTIFICATE_NAME
  KEY_VAULT_CREDENTIAL: 'managedIdentity'
  AZURE_CLIENT_ID: identity.outputs.clientId

  // Behaviour
  DRY_RUN: DRY_RUN
  SWEEP_SCHEDULE: SWEEP_SCHEDULE
  HTTP_SWEEP_BUDGET_SECONDS: HTTP_SWEEP_BUDGET_SECONDS

  // Run journal and bounded attempts
  EXO_MAX_ATTEMPTS: EXO_MAX_ATTEMPTS
  WORKFLOW_FAILURE_ACTION_NAME: WORKFLOW_FAILURE_ACTION_NAME
  EXO_JOURNAL_DAYS: EXO_JOURNAL_DAYS
  // Verify (issue 17): the daily drift report, off unless scheduled
  VERIFY_SCHEDULE: VERIFY_SCHEDULE
  VERIFY_SINCE_DAYS: VERIFY_SINCE_DAYS
  // Fan-out (issue 14): the queue trigger takes EXO_SESSIONS messages at a time per instance and the
  // next batch when as many are left (batchSize = newBatchThreshold = sessions): at most twice the
  // sessions in progress, the runs ahead of the pool (sessionPool.ts), which makes no more Exchange
  // sessions than EXO_SESSIONS. So instances x sessions stays within the cap.
  EXO_SESSIONS: EXO_SESSIONS
  SWEEP_MODE: SWEEP_MODE
  AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
  AzureFunctionsJobHost__extensions__queues__batchSize: string(sessionsPerInstance)
  AzureFunctionsJobHost__extensions__queues__newBatchThreshold: string(sessionsPerInstance)
}

module function 'app/function.bicep' = {
  name: 'function'
  scope: rg
  // Roles first, so the first start can pull the image and resolve the Key Vault reference.
  dependsOn: [rbac]
  params: {
    planName: names.plan
    appName: names.functionApp
    location: location
    tags: tags
    serviceName: serviceName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    image: empty(appImageName) ? placeholderImage : appImageName
    maximumInstanceCount: instanceLimit
    appSettings: appSettings
  }
}

// azd stores these in the environment (`azd env get-values`); docs/deploy.md uses them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_FUNCTION_APP_NAME string = function.outputs.name
output AZURE_FUNCTION_APP_HOSTNAME string = function.outputs.hostName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_APPLICATION_INSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsWorkspaceId
output TRELICA_CLIENT_SECRET_NAME string = trelicaClientSecretName
