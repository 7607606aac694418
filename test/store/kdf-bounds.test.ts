// The scrypt parameters in a passphrase store's header are read before anything is authenticated: a tampered
// file must not make loginkit derive a key on gigabytes of memory for minutes.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StorageError } from '../../src/errors.js';
import { createEncryptedCodec } from '../../src/store/encrypted-codec.js';
import { parseEnvelope } from '../../src/store/envelope.js';
import { createFileStore } from '../../src/store/file-store.js';
import { createPassphraseKeySource } from '../../src/store/passphrase-key.js';
import { makeHome } from '../helpers/cli.js';
import { credentialEntry } from './support.js';

const PASSPHRASE = 'correct horse battery staple';

/** The store file's JSON with its kdf fields replaced. */
function withKdf(text: string, kdf: Record<string, number>): string {
  const envelope = JSON.parse(text) as { kdf: Record<string, unknown> };
  return JSON.stringify({ ...envelope, kdf: { ...envelope.kdf, ...kdf } });
}

describe('scrypt parameters of a passphrase store', () => {
  let home: string;
  let path: string;
  let original: string;
  before(async () => {
    home = await makeHome();
    path = join(home, 'credentials.json');
    const source = createPassphraseKeySource(async () => PASSPHRASE);
    await createFileStore(path, createEncryptedCodec(source)).update(() => credentialEntry('acme', 'kdf-test-token'));
    original = await readFile(path, 'utf8');
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  test('tampered KDF parameters (N=2^20, r=32, p=16) are refused at once, before the passphrase is asked for', async () => {
    await writeFile(path, withKdf(original, { N: 2 ** 20, r: 32, p: 16 }), { mode: 0o600 });
    let asked = false;
    // Were the header trusted, the next step would be scrypt on 4 GiB: failing here keeps that from running.
    const source = createPassphraseKeySource(async () => {
      asked = true;
      throw new Error('the passphrase was asked for: the parameters were trusted');
    });
    await assert.rejects(createFileStore(path, createEncryptedCodec(source)).read(), (error: unknown) => {
      assert.ok(error instanceof StorageError, String(error));
      assert.equal(error.path, path);
      assert.match(
        error.message,
        /^The credential store .*credentials\.json asks for scrypt N=1048576, r=32, p=16, outside what loginkit uses \(N=2\^14 to 2\^17, r=8, p=1\): it was tampered with, or written by a newer loginkit; it was left untouched\.\nUpgrade loginkit, or restore the file from a backup, or move it aside: loginkit store reset --force$/,
      );
      return true;
    });
    assert.equal(asked, false);
    assert.equal(await readFile(path, 'utf8'), withKdf(original, { N: 2 ** 20, r: 32, p: 16 }), 'left untouched');
  });

  test('accepted: N a power of two from 2^14 to 2^17, r=8, p=1; anything else is refused', () => {
    const cases: Array<[Record<string, number>, boolean]> = [
      [{ N: 2 ** 15 }, true],
      [{ N: 2 ** 14 }, true],
      [{ N: 2 ** 17 }, true],
      [{ N: 2 ** 13 }, false],
      [{ N: 2 ** 18 }, false],
      [{ N: 3 * 2 ** 14 }, false],
      [{ r: 7 }, false],
      [{ r: 9 }, false],
      [{ p: 2 }, false],
      [{ p: 0 }, false],
    ];
    for (const [kdf, accepted] of cases) {
      const bytes = new TextEncoder().encode(withKdf(original, kdf));
      if (accepted) assert.doesNotThrow(() => parseEnvelope(bytes, path), JSON.stringify(kdf));
      else assert.throws(() => parseEnvelope(bytes, path), /outside what loginkit uses/, JSON.stringify(kdf));
    }
  });
});
