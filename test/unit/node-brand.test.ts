import assert from 'node:assert/strict';
import { test } from 'node:test';
import { graphql } from 'graphql';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { buildSchema } from '../../src/graphql/schema.js';
import type { Context } from '../../src/graphql/context.js';
import { domainRecord } from '../helpers/records.js';

/**
 * A node read must not mark the object it answers: the services hand out their cached records, and a mark left
 * on one (Pothos' type brand) made a later mutation answering that very record fail with an internal error
 * ("Domain is not a possible type for AssignDomainResult") — met by the web app test, when a tenant's page read
 * a machine just handed to it while the admin's assignDomain was still answering. Services are stand-ins here.
 */
test('a domain read through node() can be answered by a mutation afterwards: the cached record is not marked', async () => {
  const uuid = '00000000-0000-0000-0000-0000000000d1';
  const cached = domainRecord({ uuid, name: 'web' });
  const admin = { userId: 'admin', name: 'admin', role: 'ADMIN', tokenId: 't' } as const;
  const services = {
    domains: { find: () => cached, diskSource: () => null, keyOf: () => uuid },
    provisioning: { assign: () => Promise.resolve(cached) },
    access: { shownOwner: () => null },
    storage: { assertWritable: () => {} },
    audit: { record: () => {} },
    hosts: { ofObject: () => null },
  };
  const context = { viewer: admin, services } as unknown as Context;
  const id = encodeGlobalID('Domain', uuid);
  const read = await graphql({
    schema: buildSchema(),
    source: `query($id: ID!) { node(id: $id) { id } }`,
    variableValues: { id },
    contextValue: context,
  });
  assert.deepEqual(read.errors, undefined);
  const assigned = await graphql({
    schema: buildSchema(),
    source: `mutation($id: ID!, $u: ID!) { assignDomain(id: $id, userId: $u) { __typename } }`,
    variableValues: { id, u: encodeGlobalID('User', 'bob') },
    contextValue: context,
  });
  assert.deepEqual(
    assigned.errors?.map((e) => e.message),
    undefined,
  );
  assert.deepEqual(JSON.parse(JSON.stringify(assigned.data)), { assignDomain: { __typename: 'AssignDomainSuccess' } });
});
