/**
 * @virtplane/sdk: the typed client of the virtplane API.
 *
 *   import { VirtplaneClient, Domains, StartDomain, unwrap } from '@virtplane/sdk';
 *   const vp = new VirtplaneClient({ url: 'http://127.0.0.1:4000', token });
 *   const { domains } = await vp.request(Domains, { first: 100 });
 *   const { domain } = unwrap((await vp.request(StartDomain, { id })).startDomain);
 *   for await (const e of vp.follow(DomainEvents, {}, (d) => d.domainEvents, { after })) console.log(e.cursor);
 */
export { graphql, readFragment, type FragmentOf, type ResultOf, type VariablesOf, type TadaDocumentNode } from './graphql.js';
export { ApiError, describeDisconnect } from './errors.js';
export { ErrorFields, isError, outcome, toApiError, unwrap, type ErrorOf, type Outcome, type SuccessOf } from './result.js';
export { VirtplaneClient, serverUrls, type ClientOptions, type UploadProgress } from './client.js';
export { followSubscription, type FollowOptions, type FollowStatus } from './follow.js';
export * from './documents.js';
