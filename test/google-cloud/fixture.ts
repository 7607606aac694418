// A home with a Google Cloud provider in config.json, its credential files, and the Google stand-in.
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GoogleStandIn, type TestServiceAccount } from '../helpers/google-stand-ins.js';

/** A fresh 0700 folder standing for the person's home (gcloud's files go under it). */
export async function makeUserHome(): Promise<{ userHome: string; loginkitHome: string }> {
  const userHome = await mkdtemp(join(tmpdir(), 'loginkit-gcloud-user-'));
  const loginkitHome = join(userHome, 'loginkit');
  await mkdir(loginkitHome, { mode: 0o700 });
  return { userHome, loginkitHome };
}

/** Writes config.json with one provider. */
export async function writeProvider(loginkitHome: string, id: string, entry: Record<string, unknown>): Promise<void> {
  const path = join(loginkitHome, 'config.json');
  await writeFile(path, `${JSON.stringify({ providers: { [id]: { type: 'google-cloud', ...entry } } }, null, 2)}\n`, { mode: 0o600 });
}

/** Writes a 0600 JSON file, its folder 0700 (as gcloud does). */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify(value, null, 2), { mode: 0o600 });
  await chmod(path, 0o600);
}

/** gcloud's ADC file under `userHome`, as `gcloud auth application-default login` writes it (plus token_uri to reach the stand-in). */
export function adcFilePath(userHome: string): string {
  return join(userHome, '.config', 'gcloud', 'application_default_credentials.json');
}

/** An authorized_user credential the stand-in accepts; `refreshToken` registered with `state`. */
export function authorizedUser(
  google: GoogleStandIn,
  refreshToken: string,
  state: 'valid' | 'invalid_rapt' | 'invalid_grant' = 'valid',
  principal = 'person@example.com',
) {
  const client = { clientId: '764086051850-test.apps.googleusercontent.com', clientSecret: 'd-FL95Q19q7MQmFpd7hHD0Ty' };
  google.refreshTokens.set(refreshToken, { ...client, state, principal });
  return {
    type: 'authorized_user',
    client_id: client.clientId,
    client_secret: client.clientSecret,
    refresh_token: refreshToken,
    token_uri: google.tokenUrl,
    quota_project_id: 'quota-project-1',
    universe_domain: 'googleapis.com',
  };
}

/** A service account key file for `account`, registered with `google`. */
export function serviceAccountKey(google: GoogleStandIn, account: TestServiceAccount) {
  google.serviceAccounts.set(account.email, account);
  return {
    type: 'service_account',
    project_id: 'sa-project-1',
    private_key_id: 'abc123',
    private_key: account.privateKeyPem,
    client_email: account.email,
    client_id: '1234567890',
    token_uri: google.tokenUrl,
  };
}
