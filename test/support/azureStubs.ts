/**
 * The managed identity endpoint and a Key Vault holding the Exchange certificate, on loopback, set
 * up the way a deployed Function App sees them. For end-to-end tests that run the CLI (or any of
 * our code) in a child process:
 *
 *   const azure = await startAzureStubs({ certificate });
 *   spawn(node, [...], { env: { ...process.env, ...azure.env, ...otherSettings } });
 *   // Key Vault mode: KEY_VAULT_URL, EXO_CERTIFICATE_NAME, KEY_VAULT_CREDENTIAL=managedIdentity
 *   // identity:      IDENTITY_ENDPOINT, IDENTITY_HEADER (and AZURE_CLIENT_ID for a user-assigned one)
 *   // reachability:  HTTPS_PROXY, NO_PROXY, NODE_EXTRA_CA_CERTS
 *   ...
 *   await azure.close();
 *
 * The identity gets "Key Vault Certificate User" (what infra assigns), which covers the
 * certificate object and its secret. Tests can change anything afterwards through `identity` and `vault`.
 */
import { randomUUID } from 'node:crypto';
import type { TestCertificate } from '../../sandbox/certificates';
import { startIdentityStub, type IdentityStub } from './identityStub';
import { startKeyVaultStub, type KeyVaultRole, type KeyVaultStub } from './keyVaultStub';

export interface AzureStubsOptions {
  /** Stored as the current version of `certificateName`, when given. */
  certificate?: TestCertificate;
  certificateName?: string;
  format?: 'pfx' | 'pem';
  /** Use a user-assigned identity (its client id goes into AZURE_CLIENT_ID) instead of the system-assigned one. */
  userAssigned?: boolean;
  /** Roles the app's identity holds on the vault. Default: Key Vault Certificate User. */
  roles?: KeyVaultRole[];
}

export interface AzureStubs {
  identity: IdentityStub;
  vault: KeyVaultStub;
  /** Client id of the identity the app uses (system- or user-assigned). */
  clientId: string;
  /** Version id of the certificate stored at start, if one was given. */
  version?: string;
  /** Environment for the child process (merge over process.env). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startAzureStubs(options: AzureStubsOptions = {}): Promise<AzureStubs> {
  const userAssignedClientId = options.userAssigned ? randomUUID() : undefined;
  const identity = await startIdentityStub(
    userAssignedClientId ? { userAssignedClientIds: [userAssignedClientId] } : {},
  );
  const vault = await startKeyVaultStub({ verifyToken: (token) => identity.verifyToken(token) });
  const clientId = userAssignedClientId ?? identity.systemAssignedClientId;
  for (const role of options.roles ?? ['Key Vault Certificate User']) vault.assignRole(clientId, role);
  const certificateName = options.certificateName ?? 'exo-app-only';
  const version = options.certificate
    ? vault.putCertificate(certificateName, options.certificate, { format: options.format ?? 'pfx' })
    : undefined;
  return {
    identity,
    vault,
    clientId,
    ...(version ? { version } : {}),
    env: {
      ...identity.env(),
      ...vault.env(),
      KEY_VAULT_URL: vault.vaultUrl,
      EXO_CERTIFICATE_NAME: certificateName,
      KEY_VAULT_CREDENTIAL: 'managedIdentity',
      ...(userAssignedClientId ? { AZURE_CLIENT_ID: userAssignedClientId } : {}),
    },
    async close() {
      await vault.close();
      await identity.close();
    },
  };
}
