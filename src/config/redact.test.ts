import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, isSecretKey, redactSecrets } from './redact.ts';

test('secrets are replaced at any depth; the input is not changed', () => {
  const doc = {
    servers: [
      {
        listeners: [
          {
            filter_chains: [
              { tls_context: { status: true, cert_chain: 'cert.pem', private_key: '-----BEGIN PRIVATE KEY-----' } },
            ],
          },
        ],
      },
    ],
    cluster_manager: { tls_context: { PrivateKey: 'k', private_key: '' } },
    extends: [{ config: { db_password: 'hunter2', apiToken: 'abc', max_tokens: 5, client_secret: { id: 'x', nested: ['y'] } } }],
  };
  const before = structuredClone(doc);
  const redacted = redactSecrets(doc);
  assert.deepEqual(doc, before);
  assert.deepEqual(redacted, {
    servers: [{ listeners: [{ filter_chains: [{ tls_context: { status: true, cert_chain: 'cert.pem', private_key: REDACTED } }] }] }],
    cluster_manager: { tls_context: { PrivateKey: REDACTED, private_key: '' } },
    extends: [{ config: { db_password: REDACTED, apiToken: REDACTED, max_tokens: 5, client_secret: { id: REDACTED, nested: [REDACTED] } } }],
  });
});

test('isSecretKey', () => {
  for (const key of ['password', 'PASSWORD', 'secret', 'token', 'private_key', 'privateKey', 'x_secret_y']) assert.ok(isSecretKey(key), key);
  for (const key of ['cert_chain', 'ca_cert', 'name', 'public_key']) assert.ok(!isSecretKey(key), key);
  assert.equal(redactSecrets('plain'), 'plain');
  assert.equal(redactSecrets(null), null);
});
