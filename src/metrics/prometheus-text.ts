/**
 * @module metrics/prometheus-text
 * Renders the registry in the Prometheus text exposition format (version 0.0.4) with
 * MOSN's names: a metric `type` + `key` becomes `<type>_<key>` flattened to
 * [a-zA-Z0-9_] (`downstream_request_total`), and the group's labels become the sample's
 * labels (`{listener="serverListener"}`). Samples of one metric family are written
 * together under one `# TYPE` line, as the format requires. Depends only on metrics/.
 */
import type { MetricsRegistry, MetricKind } from './metrics-registry.ts';

/** MOSN's flattening: anything outside [a-zA-Z0-9_] becomes "_"; a leading digit gets "_". */
export function flattenMetricName(name: string): string {
  const flat = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(flat) ? `_${flat}` : flat;
}

function flattenLabelName(name: string): string {
  const flat = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(flat) || flat.startsWith('__') ? `_${flat}` : flat;
}

/** Label values escape backslash, double quote and newline (the format's only escapes). */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

interface Family {
  kind: MetricKind;
  samples: string[];
}

/** The whole registry as exposition text (ends with a newline). */
export function renderPrometheusText(registry: MetricsRegistry): string {
  const families = new Map<string, Family>();
  for (const group of registry.groups()) {
    const labelText = Object.keys(group.labels)
      .sort()
      .map((label) => `${flattenLabelName(label)}="${escapeLabelValue(group.labels[label]!)}"`)
      .join(',');
    for (const [key, kind, value] of group.metrics()) {
      const name = flattenMetricName(`${group.type}_${key}`);
      let family = families.get(name);
      if (family === undefined) {
        family = { kind, samples: [] };
        families.set(name, family);
      }
      family.samples.push(`${name}${labelText === '' ? '' : `{${labelText}}`} ${formatValue(value)}`);
    }
  }
  let out = '';
  for (const [name, family] of families) {
    out += `# TYPE ${name} ${family.kind === 'counter' ? 'counter' : 'gauge'}\n${family.samples.join('\n')}\n`;
  }
  return out + renderHistograms(registry);
}

/** Histograms as Prometheus histograms: cumulative `_bucket{le}` series (ms), `_sum` (ms), `_count`. */
function renderHistograms(registry: MetricsRegistry): string {
  const families = new Map<string, string[]>();
  for (const group of registry.groups()) {
    const labels = Object.keys(group.labels)
      .sort()
      .map((label) => `${flattenLabelName(label)}="${escapeLabelValue(group.labels[label]!)}"`);
    const withLabels = (extra: string[]): string => (labels.length + extra.length === 0 ? '' : `{${[...labels, ...extra].join(',')}}`);
    for (const [key, histogram] of group.histograms()) {
      const name = flattenMetricName(`${group.type}_${key}`);
      const snap = histogram.snapshot();
      let samples = families.get(name);
      if (samples === undefined) families.set(name, (samples = []));
      let cumulative = 0;
      snap.buckets.forEach((n, i) => {
        cumulative += n;
        const le = i < snap.bounds.length ? String(snap.bounds[i]) : '+Inf';
        samples!.push(`${name}_bucket${withLabels([`le="${le}"`])} ${cumulative}`);
      });
      samples.push(`${name}_sum${withLabels([])} ${formatValue(snap.sumMs)}`);
      // _count is the +Inf bucket by definition; reading the count cell separately could
      // disagree while another process updates the same cells.
      samples.push(`${name}_count${withLabels([])} ${cumulative}`);
    }
  }
  let out = '';
  for (const [name, samples] of families) out += `# TYPE ${name} histogram\n${samples.join('\n')}\n`;
  return out;
}
