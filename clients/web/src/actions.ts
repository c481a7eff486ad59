/** The API's lifecycle mutations as a machine's actions, and which of them fit which state. */
import {
  DeleteDomain,
  DestroyDomain,
  type Domains,
  RebootDomain,
  ResumeDomain,
  ShutdownDomain,
  StartDomain,
} from '../../sdk/src/documents.js';
import type { ResultOf } from '../../sdk/src/graphql.js';
import type { Api } from './api.js';

export type Page = NonNullable<ResultOf<typeof Domains>['domains']>;
export type Domain = Page['edges'][number]['node'];
/** What every lifecycle mutation answers: the domain as it is now, or a typed error. */
type ActionResult = { domain: Domain } | { code: string; message: string } | null;
export type Action = [label: string, run: (api: Api, id: string) => Promise<ActionResult>];

const start: Action = ['Start', async (api, id) => (await api.request(StartDomain, { id })).startDomain];
const shutdown: Action = ['Shut down', async (api, id) => (await api.request(ShutdownDomain, { id })).shutdownDomain];
const reboot: Action = ['Reboot', async (api, id) => (await api.request(RebootDomain, { id })).rebootDomain];
const resume: Action = ['Resume', async (api, id) => (await api.request(ResumeDomain, { id })).resumeDomain];
const forceOff: Action = ['Force off', async (api, id) => (await api.request(DestroyDomain, { id })).destroyDomain];
/** The one action with nothing to undo it: the disk goes too. */
export const remove: Action = ['Delete', async (api, id) => (await api.request(DeleteDomain, { id })).deleteDomain];

/** What a machine in a state can be asked to do (libvirt's state names). */
export const ACTIONS: Record<string, Action[]> = {
  RUNNING: [shutdown, reboot, forceOff],
  PAUSED: [resume, forceOff],
  PMSUSPENDED: [forceOff],
  SHUTOFF: [start, remove],
  CRASHED: [start, remove],
};
