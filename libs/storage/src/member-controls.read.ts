import { foldHistory, MemberControls } from '@vh/domain';
import { CompressedHistoryRepository } from './compressed/compressed-history.repository';
import { LiveHistoryRepository } from './live/live-history.repository';

/**
 * A profile's member controls (settings, titles removed): the live control events folded onto the stored
 * ones. Live rows first, then the compressed version, as every read (invariant 3). Record chunks are
 * decoded too (the controls live in the metadata row, but a corrupt history is reported, not skipped).
 */
export async function readMemberControls(
  live: LiveHistoryRepository,
  compressed: CompressedHistoryRepository,
  profileId: string,
): Promise<MemberControls> {
  const events = await live.readProfile(profileId);
  const { history } = await compressed.read(profileId);
  const controls = events.filter((event) => event.type === 'settings-changed' || event.type === 'title-removed');
  return foldHistory(controls, history).controls;
}
