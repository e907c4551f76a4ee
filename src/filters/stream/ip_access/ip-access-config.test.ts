import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { clientIp, decide, parseCidr, parseIpAccessConfig, type IpAccessConfig } from './ip-access-config.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';

const PATH = 'servers[0].listeners[0].stream_filters[0].config';

function parse(raw: unknown, warnings: string[] = []): IpAccessConfig {
  return parseIpAccessConfig(raw, PATH, (m) => warnings.push(m));
}

const rejected = (raw: unknown, where: string, detail?: RegExp): void => assertFilterConfigError(() => parse(raw), where, detail);

describe('parseCidr', () => {
  test('CIDRs and plain IPs, IPv4 and IPv6', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', length: 8 });
    assert.deepEqual(parseCidr('10.1.2.3'), { address: '10.1.2.3', length: 32 });
    assert.deepEqual(parseCidr('2001:db8::/32'), { address: '2001:db8::', length: 32 });
    assert.deepEqual(parseCidr('::1'), { address: '::1', length: 128 });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { address: '0.0.0.0', length: 0 });
  });

  test('IPv4-mapped IPv6 becomes IPv4, as Go compares it', () => {
    assert.deepEqual(parseCidr('::ffff:10.1.2.3'), { address: '10.1.2.3', length: 32 });
    assert.deepEqual(parseCidr('::FFFF:10.0.0.0/104'), { address: '10.0.0.0', length: 8 });
  });

  test('anything else is refused', () => {
    for (const bad of ['', 'localhost', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0/8', '10.0.0.0/-1', '10.0.0.0/ 8', '1.2.3.4:80']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });
});

describe('parseIpAccessConfig', () => {
  test("MOSN's shape: default_action, header, ips[{action, addrs}]", () => {
    const c = parse({
      default_action: 'deny',
      header: 'X-Forwarded-For',
      ips: [
        { action: 'allow', addrs: ['127.0.0.1', '10.0.0.0/8'] },
        { action: 'deny', addrs: ['2001:db8::/32'] },
      ],
    });
    assert.equal(c.defaultAction, 'deny');
    assert.equal(c.header, 'x-forwarded-for');
    assert.deepEqual(c.lists.map((l) => [l.action, l.addrs.size]), [['allow', 2], ['deny', 1]]);
  });

  test('defaults: default_action "allow", no header, no lists (warned: it allows everything)', () => {
    const warnings: string[] = [];
    const c = parse({}, warnings);
    assert.deepEqual([c.defaultAction, c.header, c.lists.length], ['allow', undefined, 0]);
    assert.deepEqual(warnings, [`${PATH}.ips: empty and default_action is "allow": every request is allowed`]);
    assert.equal(parse({ default_action: '', header: '' }).defaultAction, 'allow');
  });

  test('keys match case-insensitively; unknown keys are warnings', () => {
    const warnings: string[] = [];
    const c = parse({ Default_Action: 'deny', IPS: [{ Action: 'allow', ADDRS: ['::1'], note: 'x' }], extra: 1 }, warnings);
    assert.deepEqual([c.defaultAction, c.lists[0]?.action], ['deny', 'allow']);
    assert.deepEqual(warnings, [`${PATH}.extra: unknown key, ignored`, `${PATH}.ips[0].note: unknown key, ignored`]);
  });

  test('bad values are errors naming the JSON path', () => {
    rejected({ default_action: 'Deny' }, `${PATH}.default_action`, /"allow" or "deny"/);
    rejected({ ips: [{ action: 'block', addrs: ['1.2.3.4'] }] }, `${PATH}.ips[0].action`, /"block"/);
    rejected({ ips: [{ addrs: ['1.2.3.4'] }] }, `${PATH}.ips[0].action`);
    rejected({ ips: [{ action: 'allow', addrs: [] }] }, `${PATH}.ips[0].addrs`, /non-empty/);
    rejected({ ips: [{ action: 'allow' }] }, `${PATH}.ips[0].addrs`);
    rejected({ ips: [{ action: 'allow', addrs: '1.2.3.4' }] }, `${PATH}.ips[0].addrs`);
    rejected({ ips: [{ action: 'allow', addrs: ['1.2.3.4'] }, { action: 'deny', addrs: ['1.2.3.4', '300.1.1.1'] }] }, `${PATH}.ips[1].addrs[1]`, /"300\.1\.1\.1"/);
    rejected({ ips: [{ action: 'deny', addrs: [10] }] }, `${PATH}.ips[0].addrs[0]`);
    rejected({ ips: {} }, `${PATH}.ips`, /an array/);
    rejected({ header: 1 }, `${PATH}.header`, /a string/);
    rejected([], PATH, /an object/);
  });
});

describe('clientIp', () => {
  test('drops the port and brackets; takes the first entry of a list', () => {
    assert.equal(clientIp('127.0.0.1:4000'), '127.0.0.1');
    assert.equal(clientIp('[::1]:4000'), '::1');
    assert.equal(clientIp('[::ffff:10.0.0.1]:80'), '::ffff:10.0.0.1');
    assert.equal(clientIp('10.0.0.1'), '10.0.0.1');
    assert.equal(clientIp('2001:db8::1'), '2001:db8::1');
    assert.equal(clientIp(' 203.0.113.9 , 10.0.0.1, 10.0.0.2'), '203.0.113.9');
    assert.equal(clientIp('[2001:db8::1]:443, 10.0.0.1'), '2001:db8::1');
    assert.equal(clientIp('garbage'), 'garbage');
  });
});

describe('decide', () => {
  const c = parse({
    default_action: 'deny',
    ips: [
      { action: 'deny', addrs: ['10.9.0.0/16'] },
      { action: 'allow', addrs: ['10.0.0.0/8', '2001:db8::/32', '0:0:0:0:0:0:0:1'] },
    ],
  });

  test('the first list containing the address decides; otherwise default_action', () => {
    assert.equal(decide(c, '10.1.2.3'), 'allow');
    assert.equal(decide(c, '10.9.2.3'), 'deny', 'the deny list comes first');
    assert.equal(decide(c, '11.0.0.1'), 'deny', 'the default');
    assert.equal(decide(c, '2001:db8:ffff::7'), 'allow');
    assert.equal(decide(c, '2001:db9::7'), 'deny');
  });

  test('any spelling of an address matches; IPv4-mapped IPv6 is IPv4', () => {
    assert.equal(decide(c, '::1'), 'allow');
    assert.equal(decide(c, '::ffff:10.1.2.3'), 'allow');
    assert.equal(decide(c, '::ffff:10.9.0.1'), 'deny');
  });

  test('an address that is not an IP is in no list: it gets the default', () => {
    assert.equal(decide(c, 'garbage'), 'deny');
    assert.equal(decide(parse({ ips: [{ action: 'deny', addrs: ['0.0.0.0/0', '::/0'] }] }), 'garbage'), 'allow');
  });
});
