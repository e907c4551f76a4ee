import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, isSecretKey, isSensitiveHeader, redactSecrets } from './redact.ts';

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

test('API keys, credentials, authorization and passwd are secrets too', () => {
  for (const key of ['api_key', 'apikey', 'api-key', 'X-Api-Key', 'credential', 'credentials', 'Authorization', 'auth_token', 'passwd', 'db_passwd']) {
    assert.ok(isSecretKey(key), key);
  }
  assert.deepEqual(
    redactSecrets({ config: { api_key: 'k', ApiKey: 'k', credentials: { user: 'u', pass: 'p' }, authorization: 'Basic x', passwd: 'p', name: 'n' } }),
    { config: { api_key: REDACTED, ApiKey: REDACTED, credentials: { user: REDACTED, pass: REDACTED }, authorization: REDACTED, passwd: REDACTED, name: 'n' } },
  );
});

test('the value of a sensitive header given as data is hidden; other headers are shown', () => {
  for (const name of ['Authorization', 'proxy-authorization', 'Cookie', 'SET-COOKIE', 'X-Api-Key', 'X-Auth-Token']) assert.ok(isSensitiveHeader(name), name);
  for (const name of ['Host', 'X-Request-Id', 'Content-Type']) assert.ok(!isSensitiveHeader(name), name);
  const route = {
    request_headers_to_add: [
      { header: { key: 'Authorization', value: 'Bearer x' }, append: false },
      { header: { key: 'Cookie', value: 'session=1' } },
      { header: { key: 'X-Trace', value: 'on' } },
      { header: { Key: 'Proxy-Authorization', Value: 'Basic y' } },
      { header: { key: 'Authorization', value: '' } },
    ],
    match: { headers: [{ name: 'X-Api-Key', value: 'k1', regex: false }, { name: 'Host', value: 'a.example' }] },
  };
  assert.deepEqual(redactSecrets(route), {
    request_headers_to_add: [
      { header: { key: 'Authorization', value: REDACTED }, append: false },
      { header: { key: 'Cookie', value: REDACTED } },
      { header: { key: 'X-Trace', value: 'on' } },
      { header: { Key: 'Proxy-Authorization', Value: REDACTED } },
      { header: { key: 'Authorization', value: '' } },
    ],
    match: { headers: [{ name: 'X-Api-Key', value: REDACTED, regex: false }, { name: 'Host', value: 'a.example' }] },
  });
  assert.equal(REDACTED, '***REDACTED***');
});
