import { InitialSchema1764136800000 } from '../../migrations/1764136800000-InitialSchema';
import { FineTuneQueue1764460800000 } from '../../migrations/1764460800000-FineTuneQueue';
import { Webhooks1764633600000 } from '../../migrations/1764633600000-Webhooks';
import { FineTunePreview1764806400000 } from '../../migrations/1764806400000-FineTunePreview';
import { GenerationUnknownWords1764979200000 } from '../../migrations/1764979200000-GenerationUnknownWords';

// Listed explicitly (no glob) so the compiled app finds them from any output folder, in order.
export const MIGRATIONS: Function[] = [InitialSchema1764136800000, FineTuneQueue1764460800000, Webhooks1764633600000, FineTunePreview1764806400000, GenerationUnknownWords1764979200000];
