/**
 * @module server/stages
 * The named lifecycle stages of a mosnode process, with the state codes MOSN reports on
 * /api/v1/states, so operators' scripts keep working.
 */
import { MosnStates } from '../admin/admin-context.ts';

export const Stage = {
  Init: 'init',
  Start: 'start',
  Running: 'running',
  GracefulStopping: 'graceful-stopping',
  Stopped: 'stopped',
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** The MOSN state code /api/v1/states reports for each stage (MOSN's stage manager codes). */
export function stateCodeOf(stage: Stage): number {
  switch (stage) {
    case Stage.Init: return MosnStates.Initing;
    case Stage.Start: return MosnStates.Starting;
    case Stage.Running: return MosnStates.Running;
    case Stage.GracefulStopping: return MosnStates.GracefulStopping;
    case Stage.Stopped: return MosnStates.Stopped;
  }
}
