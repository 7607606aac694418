import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StorageError } from '../../src/errors.js';
import { ENVELOPE_FORMAT, type EnvelopeHeader, type KeySourceKind, parseEnvelope } from '../../src/store/envelope.js';
import { type KeySource, createEncryptedCodec, keyFingerprint, randomDataKey } from '../../src/store/encrypted-codec.js';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { detectBackend } from '../../src/store/select-store.js';
import { credentialEntry } from './support.js';

const PATH = '/home/someone/.config/loginkit/credentials.json';
const ENTRIES = { ...credentialEntry('acme', 'secret-access-token-acme'), ...credentialEntry('zeta', 'secret-access-token-zeta') };

/** A key source that keeps its one key in memory and records every copy it hands out. */
function memoryKeySource(kind: KeySourceKind): KeySource & { handedOut: Buffer[]; created: number } {
  const key = randomDataKey();
  const keyId = keyFingerprint(key);
  const kdf =
    kind === 'passphrase' ? { name: 'scrypt' as const, N: 2 ** 15, r: 8, p: 1, salt: Buffer.alloc(16, 7).toString('base64') } : undefined;
  const source = {
    kind,
    handedOut: [] as Buffer[],
    created: 0,
    async unlock(header: EnvelopeHeader, path: string) {
      if (header.keyId !== keyId) throw new StorageError(path, `${path}: no key ${header.keyId}`);
      const copy = Buffer.from(key);
      source.handedOut.push(copy);
      return copy;
    },
    async create() {
      source.created++;
      const copy = Buffer.from(key);
      source.handedOut.push(copy);
      return { key: copy, keyId, ...(kdf ? { kdf } : {}) };
    },
  };
  return source;
}

describe('encrypted codec', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ['keychain', 'passphrase'] as const) {
    test(`${kind}: round trip; the file is an authenticated envelope with no secret in sight; keys are zeroed`, async () => {
      const source = memoryKeySource(kind);
      const codec = createEncryptedCodec(source);
      const bytes = await codec.encode(ENTRIES, { path: PATH, current: undefined });
      const text = new TextDecoder().decode(bytes);
      assert.ok(!text.includes('secret-access-token'), 'no token in the file');
      assert.ok(!text.includes('acme'), 'not even the provider names');
      const json = JSON.parse(text) as Record<string, unknown>;
      assert.deepEqual(
        Object.keys(json).sort(),
        ['cipher', 'ciphertext', 'format', 'iv', 'keyId', 'protection', 'tag', 'version', ...(kind === 'passphrase' ? ['kdf'] : [])].sort(),
      );
      assert.equal(json.format, ENVELOPE_FORMAT);
      assert.equal(json.protection, kind);
      assert.equal(json.cipher, 'aes-256-gcm');
      assert.equal(Buffer.from(json.iv as string, 'base64').length, 12);
      assert.equal(detectBackend(bytes, PATH), kind);
      assert.deepEqual(await codec.decode(bytes, PATH), ENTRIES);
      assert.ok(source.handedOut.length >= 2);
      for (const key of source.handedOut)
        assert.ok(
          key.every((byte) => byte === 0),
          'every key handed out was zeroed after use',
        );
    });
  }

  test('each write keeps the key of the current file and takes a fresh IV', async () => {
    const source = memoryKeySource('keychain');
    const codec = createEncryptedCodec(source);
    const first = await codec.encode(ENTRIES, { path: PATH, current: undefined });
    const second = await codec.encode(ENTRIES, { path: PATH, current: first });
    assert.equal(source.created, 1, 'no second key for an existing file');
    const [a, b] = [parseEnvelope(first, PATH), parseEnvelope(second, PATH)];
    assert.equal(a.header.keyId, b.header.keyId);
    assert.notDeepEqual(a.iv, b.iv);
    assert.deepEqual(await codec.decode(second, PATH), ENTRIES);
  });

  for (const kind of ['keychain', 'passphrase'] as const) {
    test(`${kind}: flipping any bit of any byte is detected and reported as a StorageError naming the file`, async () => {
      const codec = createEncryptedCodec(memoryKeySource(kind));
      const bytes = await codec.encode(ENTRIES, { path: PATH, current: undefined });
      for (let index = 0; index < bytes.length; index++) {
        for (const bit of [0x01, 0x20, 0x80]) {
          const tampered = Uint8Array.from(bytes);
          tampered[index] = (tampered[index] as number) ^ bit;
          await assert.rejects(codec.decode(tampered, PATH), (error: unknown) => {
            assert.ok(error instanceof StorageError, `byte ${index} bit ${bit}: ${String(error)}`);
            assert.equal(error.path, PATH);
            assert.ok(error.message.includes(PATH));
            return true;
          });
        }
      }
    });
  }

  test('every truncation is detected', async () => {
    const codec = createEncryptedCodec(memoryKeySource('keychain'));
    const bytes = await codec.encode(ENTRIES, { path: PATH, current: undefined });
    // The trailing newline is whitespace; everything before it matters.
    for (let length = 0; length < bytes.length - 1; length++) {
      await assert.rejects(codec.decode(bytes.subarray(0, length), PATH), StorageError, `truncated to ${length}`);
    }
  });

  test('a newer envelope version is refused as such; an unknown older one as damaged', async () => {
    const codec = createEncryptedCodec(memoryKeySource('keychain'));
    const json = JSON.parse(new TextDecoder().decode(await codec.encode(ENTRIES, { path: PATH, current: undefined }))) as Record<
      string,
      unknown
    >;
    const future = new TextEncoder().encode(JSON.stringify({ ...json, version: 2 }));
    await assert.rejects(
      codec.decode(future, PATH),
      /format version 2, newer than this loginkit understands; it was left untouched\.\nUpgrade loginkit/,
    );
    assert.throws(() => detectBackend(future, PATH), /newer than this loginkit understands/);
    const older = new TextEncoder().encode(JSON.stringify({ ...json, version: 0 }));
    await assert.rejects(
      codec.decode(older, PATH),
      /is not a valid encrypted loginkit store; it was left untouched\.\nRestore it from a backup, or move it aside and sign in again: loginkit store reset/,
    );
  });

  test('a tampered store file on disk: read fails with the fix, and the file is left byte for byte as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loginkit-codec-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.json');
    const source = memoryKeySource('keychain');
    await createFileStore(path, createEncryptedCodec(source)).update(() => ENTRIES);
    const original = await readFile(path);
    const envelope = JSON.parse(original.toString('utf8')) as { ciphertext: string };
    const ciphertext = Buffer.from(envelope.ciphertext, 'base64');
    ciphertext[10] = (ciphertext[10] as number) ^ 0xff;
    const tampered = original.toString('utf8').replace(envelope.ciphertext, ciphertext.toString('base64'));
    await writeFile(path, tampered);
    await chmod(path, 0o600);

    const store = createFileStore(path, createEncryptedCodec(source));
    await assert.rejects(store.read(), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.match(error.message, /has been changed or damaged since loginkit wrote it/);
      assert.match(error.message, /loginkit store reset/);
      return true;
    });
    await assert.rejects(
      store.update((entries) => ({ ...entries, extra: 1 })),
      StorageError,
    );
    assert.equal(await readFile(path, 'utf8'), tampered, 'nothing was rewritten');
  });

  test('the plaintext file backend is recognised, and garbage is not', async () => {
    const bytes = await plaintextCodec.encode(ENTRIES, { path: PATH, current: undefined });
    assert.equal(detectBackend(bytes, PATH), 'file');
    assert.throws(() => detectBackend(new TextEncoder().encode('{"hello": 1}'), PATH), /does not have the shape of a loginkit store/);
    assert.throws(
      () => detectBackend(new TextEncoder().encode('{"format": "loginkit-encrypted-store"'), PATH),
      /is truncated or not valid JSON/,
    );
  });
});
