// Built-in Azure role definition ids. They are the same in every tenant; each one is named once
// here and every assignment refers to it by name (compile-time import, nothing is deployed).

@export()
@description('Built-in role definition ids this deployment assigns, by role name.')
var roleIds = {
  // Host storage (timer schedule, singleton locks, function keys) and our run claims (blob leases).
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Run records (who each run is about; the journal grows from them) in the storage account's table.
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // The exo-runs queue (issue 14): the timer puts one message per waiting run, the queue trigger takes them.
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // Read the SaaS Manager client secret (Key Vault reference) and the certificate's PFX.
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  // Read the certificate's metadata (thumbprint, expiry, versions).
  keyVaultCertificateUser: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'
  // For the admin who deploys: put the client secret and the certificate into the vault.
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985'
  // Application Insights with local (key) auth disabled accepts telemetry from this role only.
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  // The Function App pulls its image; the admin's azd pushes it.
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec'
}
