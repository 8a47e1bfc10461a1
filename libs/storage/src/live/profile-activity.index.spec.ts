import { dayOf, isLateArrival } from './profile-activity.index';

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

describe('isLateArrival', () => {
  const minAge = 14 * 86_400_000;
  const now = Date.parse('2026-11-26T12:00:00Z');
  it('is an event of a day the sweep may have passed: up to the day holding now - minAge', () => {
    expect(isLateArrival(Date.parse('2026-11-12T23:59:59Z'), now, minAge)).toBe(true);
    expect(isLateArrival(Date.parse('2026-10-01T00:00:00Z'), now, minAge)).toBe(true);
    expect(isLateArrival(Date.parse('2026-11-13T00:00:00Z'), now, minAge)).toBe(false);
    expect(isLateArrival(now, now, minAge)).toBe(false); // every event a device posts now
  });
});
