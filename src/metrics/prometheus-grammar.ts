/**
 * @module metrics/prometheus-grammar
 * A strict checker of the Prometheus text exposition format (0.0.4), used by tests to
 * prove that what the sink serves parses: metric and label names, quoted and escaped label
 * values, numeric values, one TYPE per family before its samples, every family's samples
 * together, and a final newline. Throws with the line number of the first problem.
 */

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const VALUE = '(?:[+-]?(?:[0-9]*\\.?[0-9]+(?:[eE][+-]?[0-9]+)?|Inf)|NaN)';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}=${LABEL_VALUE}(?:,${LABEL}=${LABEL_VALUE})*,?)?\\})?[ ]${VALUE}(?:[ ]-?[0-9]+)?$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) .*$`);

export function assertValidExposition(text: string): void {
  if (text !== '' && !text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const lines = text.split('\n').slice(0, -1);
  const typed = new Set<string>();
  const histograms = new Set<string>();
  const finished = new Set<string>();
  let current: string | undefined;
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    const type = TYPE_LINE.exec(line);
    if (type !== null) {
      if (typed.has(type[1]!)) throw new Error(`${where}: second TYPE line for ${type[1]}`);
      typed.add(type[1]!);
      if (type[2] === 'histogram' || type[2] === 'summary') histograms.add(type[1]!);
      return;
    }
    if (line.startsWith('#')) {
      if (line.startsWith('# HELP') && HELP_LINE.exec(line) === null) throw new Error(`${where}: bad HELP line`);
      return;
    }
    const sample = SAMPLE.exec(line);
    if (sample === null) throw new Error(`${where}: not a valid sample`);
    // A histogram's _bucket, _sum and _count samples belong to its family.
    const base = sample[1]!.replace(/_(bucket|sum|count)$/, '');
    const name = histograms.has(base) ? base : sample[1]!;
    if (histograms.has(base) && sample[1]!.endsWith('_bucket') && !/[{,]le="[^"]*"/.test(line)) {
      throw new Error(`${where}: a histogram bucket without an le label`);
    }
    if (name !== current) {
      if (current !== undefined) finished.add(current);
      if (finished.has(name)) throw new Error(`${where}: samples of ${name} are not together`);
      current = name;
    }
  });
}
