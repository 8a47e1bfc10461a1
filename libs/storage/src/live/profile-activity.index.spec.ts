import { dayOf } from './profile-activity.index';

describe('dayOf', () => {
  it('gives the UTC day of an instant, the same on every call', () => {
    const instant = Date.parse('2026-11-24T23:59:59.999Z');
    expect(dayOf(instant)).toBe('2026-11-24');
    expect(dayOf(instant)).toBe('2026-11-24');
    expect(dayOf(instant + 1)).toBe('2026-11-25');
    expect(dayOf(Date.parse('2026-11-24T00:00:00.000Z'))).toBe('2026-11-24');
  });

  it('handles instants before 1970', () => {
    expect(dayOf(-1)).toBe('1969-12-31');
  });
});
