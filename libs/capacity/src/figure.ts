/**
 * Where an input of the capacity model comes from:
 * - measured: a benchmark's field in bench/results (or arithmetic on such fields);
 * - decided: a setting or decision of this project (docs/architecture.md, docs/configuration.md);
 * - assumed: not measured here; a public figure or reasoning, stated in `source`;
 * - given: the operator's command-line argument.
 */
export type FigureKind = 'measured' | 'decided' | 'assumed' | 'given';

/**
 * One input with its provenance. Every printed line cites its figures, so a reader can tell a measured
 * count from a guessed one (issue 16 §4).
 */
export interface Figure {
  readonly value: number;
  readonly unit: string;
  /** `bench/results/ingest.json profile.ingestCpuMicrosPerEvent (2026-11-26)`, or the assumption's reason. */
  readonly source: string;
  readonly kind: FigureKind;
}

export const measured = (value: number, unit: string, source: string): Figure => ({
  value,
  unit,
  source,
  kind: 'measured',
});
export const decided = (value: number, unit: string, source: string): Figure => ({
  value,
  unit,
  source,
  kind: 'decided',
});
export const assumed = (value: number, unit: string, source: string): Figure => ({
  value,
  unit,
  source,
  kind: 'assumed',
});

/** The figure replaced by an operator's argument; the default it replaced stays cited. */
export function given(figure: Figure, value: number, flag: string): Figure {
  return { value, unit: figure.unit, source: `${flag} (default ${figure.value}: ${figure.source})`, kind: 'given' };
}

export function formatValue(value: number, unit = ''): string {
  if (unit.startsWith('bytes')) return `${formatBytes(value)}${unit.slice('bytes'.length)}`;
  const digits = Math.abs(value) >= 100 || Number.isInteger(value) ? 0 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit ? ` ${unit}` : ''}`;
}

/** Decimal units (a TB is 10^12 bytes), as disks are sold. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let i = 0;
  while (Math.abs(bytes) >= 1000 && i < units.length - 1) {
    bytes /= 1000;
    i++;
  }
  return i === 0 ? `${formatValue(bytes)} B` : `${bytes.toFixed(bytes < 10 ? 2 : 1)} ${units[i]}`;
}

/** `[measured] 42.4 µs: bench/results/ingest.json profile.ingestCpuMicrosPerEvent (2026-11-26)` */
export function cite(figure: Figure): string {
  return `[${figure.kind}] ${formatValue(figure.value, figure.unit)}: ${figure.source}`;
}
