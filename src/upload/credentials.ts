/**
 * Reads one profile of an AWS shared credentials file (the INI format the AWS CLI writes:
 * `[name]` sections with aws_access_key_id, aws_secret_access_key, aws_session_token).
 * Our own small parser instead of @aws-sdk/credential-provider-ini because that package is
 * only a transitive dependency and does not take an explicit path without the environment.
 * Errors name the file, the profile and the missing key, never a value.
 */
import { readFile } from 'node:fs/promises';
import { S3UploadError } from './errors.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Sections of an INI text as maps of lower-cased keys; `[profile x]` (config-file style) counts as `x`. */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (section) {
      current = sections.get(section[1]) ?? new Map();
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) continue;
    current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return sections;
}

export async function readCredentialsFile(file: string, profile = 'default'): Promise<S3Credentials> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new S3UploadError('credentials', `cannot read the AWS credentials file ${file} (config s3.credentials_file): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
      details: { credentialsFile: file, profile },
    });
  }
  const section = parseIni(text).get(profile);
  if (!section) {
    throw new S3UploadError('credentials', `the AWS credentials file ${file} has no profile [${profile}] (config s3.profile)`, {
      details: { credentialsFile: file, profile },
    });
  }
  const accessKeyId = section.get('aws_access_key_id');
  const secretAccessKey = section.get('aws_secret_access_key');
  for (const [name, value] of [['aws_access_key_id', accessKeyId], ['aws_secret_access_key', secretAccessKey]] as const) {
    if (!value) {
      throw new S3UploadError('credentials', `profile [${profile}] of the AWS credentials file ${file} has no ${name}`, {
        details: { credentialsFile: file, profile },
      });
    }
  }
  const sessionToken = section.get('aws_session_token');
  return { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey!, ...(sessionToken ? { sessionToken } : {}) };
}
