import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileGoTemplate, compileRe2, replaceAllGo, Re2SyntaxError } from './re2.ts';

/** Asserts which inputs the Go pattern matches (unanchored, as Go's MatchString). */
function matches(pattern: string, yes: string[], no: string[]): void {
  const { regex } = compileRe2(pattern);
  for (const s of yes) assert.ok(regex.test(s), `${pattern} should match ${JSON.stringify(s)} (as ${regex.source})`);
  for (const s of no) assert.ok(!regex.test(s), `${pattern} should not match ${JSON.stringify(s)} (as ${regex.source})`);
}

function refused(pattern: string, why: RegExp): void {
  assert.throws(() => compileRe2(pattern), (err: unknown) => err instanceof Re2SyntaxError && why.test(err.message), pattern);
}

describe('RE2 patterns mean what they mean in Go', () => {
  test('unanchored unless ^ / $ / \\A / \\z say otherwise', () => {
    matches('/a.*', ['/a', '/x/abc'], ['/b']);
    matches('^/a$', ['/a'], ['/ab', 'x/a']);
    matches('\\A/a\\z', ['/a'], ['/a/']);
  });

  test('flags: (?i) anywhere, scoped to its group and across "|"; (?i:...) groups; (?-i)', () => {
    matches('(?i)/api', ['/API', '/Api'], ['/ap']);
    matches('a(?i)b|c', ['aB', 'C'], ['AB', 'B']);
    matches('(a(?i)b)c', ['aBc'], ['aBC']);
    matches('(?i:a)b', ['Ab'], ['AB']);
    matches('(?i)a(?-i)b', ['Ab'], ['AB']);
  });

  test('"." excludes only \\n; (?s) includes it; (?m) makes ^ and $ work per line', () => {
    matches('^a.b$', ['a\rb', 'a-b'], ['a\nb']);
    matches('(?s)^a.b$', ['a\nb'], []);
    matches('(?m)^b$', ['a\nb\nc'], ['ab', 'a\nbc']);
    matches('^b$', ['b'], ['a\nb']);
  });

  test('(?U) swaps greedy and lazy', () => {
    assert.equal(compileRe2('(?U)a+').regex.exec('aaa')?.[0], 'a');
    assert.equal(compileRe2('(?U)a+?').regex.exec('aaa')?.[0], 'aaa');
  });

  test('classes: POSIX, negated POSIX, \\s as ASCII, \\pL and scripts, "]" first, "-" literal', () => {
    matches('^[[:alpha:]]+$', ['abcXYZ'], ['abc1']);
    matches('^[[:^digit:]]$', ['a', '-'], ['5']);
    matches('\\s', [' ', '\t'], ['\u00a0', '\v']);
    matches('^[\\S]$', ['a', '\u00a0'], [' ']);
    matches('^\\pL+$', ['héllo'], ['h3']);
    matches('\\p{Greek}', ['α'], ['a']);
    matches('\\P{Greek}', ['a'], ['α']);
    matches('^[]a]$', [']', 'a'], ['b']);
    matches('^[a-c-e]$', ['a', 'c', '-', 'e'], ['d']);
    matches('^[^a]$', ['\n', 'b'], ['a']);
  });

  test('escapes: \\Q...\\E, hex, octal, punctuation', () => {
    matches('^\\Qa.b*\\E$', ['a.b*'], ['axb']);
    matches('^\\x41\\x{42}\\103$', ['ABC'], []);
    matches('^\\.\\-\\#$', ['.-#'], []);
  });

  test('repetition: {n,m}; a "{" that is not a repeat is a literal', () => {
    matches('^a{2,3}$', ['aa', 'aaa'], ['a', 'aaaa']);
    matches('^a{,3}$', ['a{,3}'], ['aaa']);
    matches('^a{$', ['a{'], []);
  });

  test('named groups, with Go\'s (?P<name>) and (?<name>) spellings', () => {
    const p = compileRe2('(?P<year>\\d{4})-(?<month>\\d\\d)');
    assert.equal(p.groupCount, 2);
    assert.deepEqual([...p.groupNames], [
      ['year', 1],
      ['month', 2],
    ]);
  });
});

describe('RE2 refuses what JS would accept', () => {
  test('backreferences', () => {
    refused('(a)\\1', /backreferences \(\\1\)/);
    refused('(?<n>a)\\k<n>', /backreferences \(\\k\)/);
  });

  test('lookahead and lookbehind', () => {
    for (const p of ['(?=a)', '(?!a)', '(?<=a)b', '(?<!a)b']) refused(p, /lookahead and lookbehind/);
  });

  test('repeat counts above 1000, nested repetition, nothing to repeat', () => {
    refused('a{1001}', /invalid repeat count/);
    refused('a{2,1}', /invalid repeat count/);
    refused('a**', /invalid nested repetition/);
    refused('a{2}{3}', /invalid nested repetition/);
    refused('*a', /missing argument/);
    refused('(?i)*', /missing argument/);
  });

  test('unknown escapes, flags and classes; unbalanced groups; \\C', () => {
    refused('\\y', /invalid escape sequence \\y/);
    refused('(?x)a', /invalid or unsupported Perl syntax/);
    refused('(?i-)a', /invalid or unsupported Perl syntax/);
    refused('[[:foo:]]', /invalid character class range/);
    refused('[z-a]', /invalid character class range/);
    refused('(a', /missing closing \)/);
    refused('a)', /unexpected \)/);
    refused('[a', /missing closing \]/);
    refused('\\C', /any byte/);
    refused('a\\', /trailing backslash/);
    refused('(?P<a>x)(?P<a>y)', /duplicate capture group name/);
  });
});

describe('Go substitution templates (ReplaceAllString)', () => {
  const replace = (pattern: string, template: string, input: string): string => {
    const p = compileRe2(pattern, 'g');
    return replaceAllGo(input, p, compileGoTemplate(template, p));
  };

  test('$1, ${1}, $name, ${name}, $$; a missing group is empty; a malformed $ stays', () => {
    assert.equal(replace('(?P<a>x)(y)', '[$1|${2}|$a|${a}|$$|$9|$]', 'xy'), '[x|y|x|x|$||$]');
    // Go reads "$1x" as the group named "1x", and "$01" as a name too.
    assert.equal(replace('(x)', '$1x-$01-${1}x', 'x'), '--xx');
    assert.equal(replace('(x)', '${bad name}', 'x'), '${bad name}');
  });

  test('every match replaced; an empty match right after a match is skipped, as Go does', () => {
    assert.equal(replace('\\d+', '#', 'a1b22c'), 'a#b#c');
    assert.equal(replace('a*', '-', 'baaac'), '-b-c-');
    assert.equal(replace('x*', '-', 'abc'), '-a-b-c-');
    assert.equal(replace('x*', '-', 'é😀'), '-é-😀-');
  });
});
