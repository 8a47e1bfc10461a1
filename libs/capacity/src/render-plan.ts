import { CapacityPlan, PlanLine } from './capacity-model';
import { Figure, formatValue } from './figure';

const SINGULAR: Partial<Record<PlanLine['unit'], string>> = {
  processes: 'process',
  partitions: 'partition',
  brokers: 'broker',
  nodes: 'node',
  cores: 'core',
  instances: 'instance',
};

function valueOf(line: PlanLine, value: number): string {
  if (line.unit === 'share') return `+${Math.round(value * 100)}%`;
  if (line.unit === 'x') return `${formatValue(value)}x`;
  return formatValue(value, value === 1 ? (SINGULAR[line.unit] ?? line.unit) : line.unit);
}

/** True when the line rests on a figure that was assumed or given rather than measured or decided. */
export function restsOnAssumptions(line: PlanLine): boolean {
  return line.basis.some((f) => f.kind === 'assumed' || f.kind === 'given');
}

const NOTE_PREFIX = { assumed: 'A', decided: 'D', given: 'G' } as const;
const NOTE_HEADING = {
  assumed: 'Assumptions (not measured by this project; replace them with measurements):',
  decided: "Decisions (this project's settings and documents):",
  given: 'Given on the command line:',
} as const;

/**
 * The plan as text: each line's value, its formula, and every figure it rests on. A measured figure is
 * cited in full on the line (file, field, value, date); an assumption or decision by a short mark, with its
 * reason printed once at the end.
 */
export function renderPlan(plan: CapacityPlan): string {
  const { eventsPerSecond, readsPerSecond, profiles, regions } = plan.demand;
  const out = [
    `Capacity for ${formatValue(eventsPerSecond)} events/s, ${formatValue(readsPerSecond)} reads/s, ` +
      `${formatValue(profiles)} profiles, ${regions} region${regions === 1 ? '' : 's'}.`,
    `steady: every region up, each takes 1/${regions} of the load; evacuation: ` +
      (regions > 1
        ? `one region lost, each survivor takes 1/${regions - 1}.`
        : 'none possible with one region (the values repeat steady).'),
    'A line marked ASSUMED rests on at least one figure not measured here.',
    '',
  ];
  const notes = new Map<Figure, string>();
  const mark = (figure: Figure) => {
    if (figure.kind === 'measured') return '';
    if (!notes.has(figure)) {
      const prefix = NOTE_PREFIX[figure.kind];
      const n = [...notes.keys()].filter((f) => f.kind === figure.kind).length + 1;
      notes.set(figure, `${prefix}${n}`);
    }
    return ` ${notes.get(figure)}`;
  };
  for (const line of plan.lines) {
    const values =
      line.steady === line.evacuation
        ? valueOf(line, line.steady)
        : `steady ${valueOf(line, line.steady)}, evacuation ${valueOf(line, line.evacuation)}`;
    out.push(`${line.label} (${line.scope}): ${values}${restsOnAssumptions(line) ? '   ASSUMED' : ''}`);
    out.push(`    = ${line.formula}`);
    for (const figure of line.basis) {
      const value = formatValue(figure.value, figure.unit);
      out.push(
        figure.kind === 'measured'
          ? `    [measured] ${value}: ${figure.source}`
          : `    [${figure.kind}${mark(figure)}] ${value}`,
      );
    }
    if (line.basis.length === 0) out.push('    (arithmetic on the arguments and the lines above)');
  }
  for (const kind of ['assumed', 'decided', 'given'] as const) {
    const ofKind = [...notes].filter(([f]) => f.kind === kind);
    if (ofKind.length === 0) continue;
    out.push('', NOTE_HEADING[kind]);
    for (const [figure, id] of ofKind) out.push(`  ${id} ${formatValue(figure.value, figure.unit)}: ${figure.source}`);
  }
  return out.join('\n');
}
