import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, isSecretKey, redactSecrets } from './redact.ts';

describe('redactSecrets', () => {
  it('knows secret key names in any case', () => {
    for (const key of ['private_key', 'PRIVATE_KEY', 'password', 'db_Password', 'client_secret', 'secretName', 'token', 'auth_token'])
      assert.ok(isSecretKey(key), key);
    for (const key of ['cert_chain', 'ca_cert', 'privatekey_path', 'name', 'key'])
      assert.ok(!isSecretKey(key), key);
  });

  it('replaces strings under secret keys at any depth, in arrays too', () => {
    const input = {
      tls_context: { private_key: 'PEM', cert_chain: 'CERT' },
      list: [{ password: 'p' }, { name: 'n' }],
      tokens: ['a', 'b'],
      nested: { secret: { value: 'v', token: 't' } },
    };
    assert.deepEqual(redactSecrets(input), {
      tls_context: { private_key: REDACTED, cert_chain: 'CERT' },
      list: [{ password: REDACTED }, { name: 'n' }],
      tokens: [REDACTED, REDACTED],
      // An object under a secret key is walked, not replaced: its own keys decide.
      nested: { secret: { value: 'v', token: REDACTED } },
    });
  });

  it('keeps empty strings, numbers, booleans and null', () => {
    assert.deepEqual(redactSecrets({ private_key: '', max_tokens: 5, token_required: true, password: null }), {
      private_key: '',
      max_tokens: 5,
      token_required: true,
      password: null,
    });
  });

  it('never changes its input', () => {
    const input = { a: { password: 'p' } };
    const output = redactSecrets(input);
    assert.equal(input.a.password, 'p');
    assert.notEqual(output.a, input.a);
  });
});
