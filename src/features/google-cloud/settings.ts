import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import type { GoogleCloudSettings } from '../../providers/registry.js';
import type { EnvVars } from '../../shared/home.js';

/** The scope asked for when config.json names none: every Google Cloud API, Vertex AI included. */
export const DEFAULT_GOOGLE_SCOPES = ['https://www.googleapis.com/auth/cloud-platform'] as const;
/** Google's OAuth token endpoint, for credential files that name none. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Where IAM Credentials' `generateAccessToken` lives. */
export const IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';
/** Google's OpenID issuer, for loginkit's own sign-in. */
export const GOOGLE_ISSUER = 'https://accounts.google.com';

/** Where a Google Cloud provider's credential comes from. */
export type GoogleSource =
  /** A credentials file, read on every use and never written: ADC (gcloud's file) or config.json's credentialsFile. */
  | { readonly kind: 'file'; readonly path: string; readonly adc: boolean }
  /** loginkit's own sign-in (an installed-app OAuth client), its refresh token in loginkit's store. */
  | { readonly kind: 'sign-in'; readonly issuer: string; readonly clientId: string; readonly clientSecret: string | undefined };

/** A service account acted as with the source's token (IAM Credentials `generateAccessToken`). */
export interface Impersonation {
  readonly target: string;
  /** The delegation chain before the target, in order. */
  readonly delegates: readonly string[];
  readonly endpoint: string;
}

/** Everything a Google Cloud provider needs, resolved against the environment. */
export interface GoogleTarget {
  readonly providerId: string;
  readonly source: GoogleSource;
  readonly scopes: readonly string[];
  readonly impersonation: Impersonation | undefined;
  /** config.json's project, else `GOOGLE_CLOUD_PROJECT`; the credential file's project is a later fallback. */
  readonly project: string | undefined;
  readonly location: string;
}

/** The Application Default Credentials file: `GOOGLE_APPLICATION_CREDENTIALS`, else the one `gcloud auth application-default login` writes. */
export function adcPath(env: EnvVars): string {
  if (env.GOOGLE_APPLICATION_CREDENTIALS) return env.GOOGLE_APPLICATION_CREDENTIALS;
  return join(gcloudConfigDir(env), 'application_default_credentials.json');
}

/** gcloud's configuration folder (`CLOUDSDK_CONFIG`, else `%APPDATA%\gcloud` on Windows, else `~/.config/gcloud`). */
function gcloudConfigDir(env: EnvVars): string {
  if (env.CLOUDSDK_CONFIG) return env.CLOUDSDK_CONFIG;
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'gcloud');
  return join(env.HOME || env.USERPROFILE || homedir(), '.config', 'gcloud');
}

/** Resolves a provider's Google Cloud settings. */
export function resolveGoogleTarget(providerId: string, settings: GoogleCloudSettings, env: EnvVars): GoogleTarget {
  const source: GoogleSource = settings.clientId
    ? { kind: 'sign-in', issuer: settings.issuer ?? GOOGLE_ISSUER, clientId: settings.clientId, clientSecret: settings.clientSecret }
    : settings.credentialsFile
      ? { kind: 'file', path: expandHome(settings.credentialsFile, env), adc: false }
      : { kind: 'file', path: adcPath(env), adc: true };
  const chain = settings.impersonateServiceAccount === undefined ? [] : [settings.impersonateServiceAccount].flat();
  const target = chain.at(-1);
  if (settings.clientSecret && !settings.clientId) {
    throw new ConfigError(`Google Cloud provider "${providerId}": clientSecret is set without clientId.`);
  }
  return {
    providerId,
    source,
    scopes: settings.scopes && settings.scopes.length > 0 ? [...settings.scopes] : [...DEFAULT_GOOGLE_SCOPES],
    impersonation: target
      ? {
          target,
          delegates: chain.slice(0, -1).map(delegateResource),
          endpoint: (settings.iamCredentialsEndpoint ?? IAM_CREDENTIALS_ENDPOINT).replace(/\/+$/, ''),
        }
      : undefined,
    project: settings.project ?? (env.GOOGLE_CLOUD_PROJECT || undefined),
    location: settings.location ?? (env.GOOGLE_CLOUD_LOCATION || 'global'),
  };
}

/** A delegate as IAM Credentials names it: `projects/-/serviceAccounts/<e-mail>`. */
function delegateResource(account: string): string {
  return `projects/-/serviceAccounts/${account}`;
}

function expandHome(path: string, env: EnvVars): string {
  return path.startsWith('~/') ? join(env.HOME || homedir(), path.slice(2)) : path;
}

/** The line that tells the person how to give the source a new sign-in, for a login-required error. */
export function fixLine(target: GoogleTarget, fileType?: string): string {
  if (target.source.kind === 'sign-in') return `Run: loginkit login ${target.providerId}`;
  if (!target.source.adc) return `Fix: point credentialsFile of "${target.providerId}" in config.json at a valid credential file.`;
  if (fileType === 'service_account')
    return 'Fix: create a new key for the service account and point GOOGLE_APPLICATION_CREDENTIALS at it.';
  return 'Run: gcloud auth application-default login';
}
