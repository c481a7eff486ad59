/**
 * Every operation of the API as a typed document. Each mutation selects its result union's success and the
 * `ErrorFields` of its errors, for `outcome`/`unwrap`. Write your own with `graphql(...)` the same way: they are
 * checked against schema.graphql by the type check.
 */
import { graphql } from './graphql.js';
import { ErrorFields } from './result.js';

export const DomainFields = graphql(`
  fragment DomainFields on Domain @_unmask {
    id uuid name libvirtName state stateReason vcpus memoryMiB autostart persistent
    owner { id name }
    interfaces { mac model type ipv4 ipv6 network { name } }
    disks { device target capacityBytes hasMedia image { name } }
  }
`);

export const PageInfoFields = graphql(`
  fragment PageInfoFields on PageInfo @_unmask { hasNextPage endCursor }
`);

// ── queries ──────────────────────────────────────────────────────────────────────────────────────────────────

export const Viewer = graphql(`
  query Viewer { viewer { id name role } }
`);

export const Host = graphql(`
  query Host { host { hostname driver libvirtVersion cpus memoryMiB domainType domainTypeReason stale } }
`);

export const Hosts = graphql(`
  query Hosts($first: Int, $after: String) {
    hosts(first: $first, after: $after) {
      totalCount
      edges { node { id name state draining hostname driver cpus memoryMiB capacity { vcpus memoryMiB } use { domains activeDomains vcpus memoryMiB } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const Domains = graphql(
  `
  query Domains($first: Int, $after: String, $filter: DomainFilter) {
    domains(first: $first, after: $after, filter: $filter) {
      totalCount
      edges { node { ...DomainFields } }
      pageInfo { ...PageInfoFields }
    }
  }
`,
  [DomainFields, PageInfoFields],
);

export const DomainNode = graphql(
  `
  query DomainNode($id: ID!) { node(id: $id) { __typename ... on Domain { ...DomainFields } } }
`,
  [DomainFields],
);

export const DomainConsole = graphql(`
  query DomainConsole($id: ID!) { domainConsole(id: $id) { type listen port password sshTunnelCommand } }
`);

export const Events = graphql(`
  query Events($first: Int, $after: String, $filter: DomainEventFilter) {
    events(first: $first, after: $after, filter: $filter) {
      edges { node { cursor at type detail state synthetic ownerId domain { id name uuid } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const Users = graphql(`
  query Users($first: Int, $after: String) {
    users(first: $first, after: $after) {
      totalCount
      edges { node { id name role createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

/** Admins: every user with its quota (limits and what it holds) and its metering over [from, to). */
export const UsersOverview = graphql(`
  query UsersOverview($first: Int, $after: String, $from: DateTime!, $to: DateTime!) {
    users(first: $first, after: $after) {
      totalCount
      edges {
        node {
          id name role
          quota {
            limits { maxDomains maxVcpus maxMemoryMiB maxDiskGiB maxInterfaces maxPortForwards }
            usage { domains vcpus memoryMiB diskGiB interfaces portForwards }
          }
          usage(from: $from, to: $to) { runningHours vcpuHours memoryGiBHours diskGiBHours }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const UserNode = graphql(`
  query UserNode($id: ID!) {
    node(id: $id) {
      __typename
      ... on User {
        id name role createdAt
        apiTokens { id label prefix createdAt expiresAt lastUsedAt revokedAt }
        quota {
          limits { maxDomains maxVcpus maxMemoryMiB maxDiskGiB maxInterfaces maxPortForwards }
          usage { domains vcpus memoryMiB diskGiB interfaces portForwards }
        }
      }
    }
  }
`);

export const ViewerQuota = graphql(`
  query ViewerQuota {
    viewer {
      id name
      quota {
        limits { maxDomains maxVcpus maxMemoryMiB maxDiskGiB maxInterfaces maxPortForwards }
        usage { domains vcpus memoryMiB diskGiB interfaces portForwards }
      }
    }
  }
`);

export const UsageFields = graphql(
  `
  fragment UsageFields on Usage @_unmask {
    from to runningHours vcpuHours memoryGiBHours diskGiBHours
    domains(first: $first, after: $after) {
      totalCount
      edges { node { domainId name domain { id } existedHours runningHours vcpuHours memoryGiBHours diskGiBHours } }
      pageInfo { ...PageInfoFields }
    }
  }
`,
  [PageInfoFields],
);

/** What your domains used within [from, to) (metering); `domains` pages with first/after. */
export const ViewerUsage = graphql(
  `
  query ViewerUsage($from: DateTime!, $to: DateTime!, $first: Int, $after: String) {
    viewer { id name usage(from: $from, to: $to) { ...UsageFields } }
  }
`,
  [UsageFields],
);

/** What a user's domains used within [from, to) (admins: anyone; tenants: themselves). */
export const UserUsage = graphql(
  `
  query UserUsage($id: ID!, $from: DateTime!, $to: DateTime!, $first: Int, $after: String) {
    node(id: $id) { __typename ... on User { id name usage(from: $from, to: $to) { ...UsageFields } } }
  }
`,
  [UsageFields],
);

export const AuditLog = graphql(`
  query AuditLog($first: Int, $after: String, $filter: AuditLogFilter) {
    auditLog(first: $first, after: $after, filter: $filter) {
      edges { node { at actorId actorName tokenId action target result message } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const Networks = graphql(`
  query Networks($first: Int, $after: String) {
    networks(first: $first, after: $after) {
      totalCount
      edges {
        node {
          id name uuid active autostart persistent forwardMode forwardDevice bridge freeIpv4
          ipv4 { address prefix dhcpRanges { start end } }
          ipv6 { address prefix }
          antiSpoofing { enabled supported }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const PortForwards = graphql(`
  query PortForwards($first: Int, $after: String) {
    portForwards(first: $first, after: $after) {
      edges { node { id protocol hostPort guestPort guestIpv4 createdAt domain { id name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const Images = graphql(`
  query Images($first: Int, $after: String) {
    images(first: $first, after: $after) {
      edges { node { name sizeBytes sha256 path createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

/** What a new domain may be made with: the networks (by name) and the install images. */
export const CreateChoices = graphql(`
  query CreateChoices {
    networks(first: 100) { edges { node { id name active freeIpv4 } } }
    images(first: 100) { edges { node { name } } }
  }
`);

export const ImageUpload = graphql(`
  query ImageUpload($id: ID!) { imageUpload(id: $id) { id name state receivedBytes sizeBytes error image { name } } }
`);

// ── subscriptions ────────────────────────────────────────────────────────────────────────────────────────────

export const DomainEvents = graphql(`
  subscription DomainEvents($after: String, $domainId: ID, $ownerId: ID, $types: [DomainEventType!]) {
    domainEvents(after: $after, domainId: $domainId, ownerId: $ownerId, types: $types) {
      cursor at type detail state synthetic ownerId domain { id name uuid }
    }
  }
`);

export const NetworkEvents = graphql(`
  subscription NetworkEvents($after: String, $networkId: ID, $types: [NetworkEventType!]) {
    networkEvents(after: $after, networkId: $networkId, types: $types) { cursor at type synthetic network { id name active } }
  }
`);

export const HostEvents = graphql(`
  subscription HostEvents($after: String, $hostId: ID, $types: [HostState!]) {
    hostEvents(after: $after, hostId: $hostId, types: $types) { cursor at type detail draining synthetic hostName }
  }
`);

// ── domain mutations ─────────────────────────────────────────────────────────────────────────────────────────

export const CreateDomain = graphql(
  `
  mutation CreateDomain($input: CreateDomainInput!) {
    createDomain(input: $input) { __typename ...ErrorFields ... on CreateDomainSuccess { domain { ...DomainFields } } }
  }
`,
  [ErrorFields, DomainFields],
);

export const StartDomain = graphql(
  `mutation StartDomain($id: ID!) { startDomain(id: $id) { __typename ...ErrorFields ... on DomainActionSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const ShutdownDomain = graphql(
  `mutation ShutdownDomain($id: ID!) { shutdownDomain(id: $id) { __typename ...ErrorFields ... on DomainActionSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const DestroyDomain = graphql(
  `mutation DestroyDomain($id: ID!) { destroyDomain(id: $id) { __typename ...ErrorFields ... on DomainActionSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const RebootDomain = graphql(
  `mutation RebootDomain($id: ID!) { rebootDomain(id: $id) { __typename ...ErrorFields ... on DomainActionSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const ResetDomain = graphql(
  `mutation ResetDomain($id: ID!) { resetDomain(id: $id) { __typename ...ErrorFields ... on DomainActionSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const SuspendDomain = graphql(
  `mutation SuspendDomain($id: ID!) { suspendDomain(id: $id) { __typename ...ErrorFields ... on DomainActionSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const ResumeDomain = graphql(
  `mutation ResumeDomain($id: ID!) { resumeDomain(id: $id) { __typename ...ErrorFields ... on DomainActionSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const ResizeDomain = graphql(
  `mutation ResizeDomain($id: ID!, $input: ResizeDomainInput!) { resizeDomain(id: $id, input: $input) { __typename ...ErrorFields ... on ResizeDomainSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const DeleteDomain = graphql(
  `mutation DeleteDomain($id: ID!, $keepDisk: Boolean) { deleteDomain(id: $id, keepDisk: $keepDisk) { __typename ...ErrorFields ... on DeleteDomainSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const InsertMedia = graphql(
  `mutation InsertMedia($id: ID!, $image: String!) { insertMedia(id: $id, image: $image) { __typename ...ErrorFields ... on InsertMediaSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const EjectMedia = graphql(
  `mutation EjectMedia($id: ID!) { ejectMedia(id: $id) { __typename ...ErrorFields ... on EjectMediaSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const AssignDomain = graphql(
  `mutation AssignDomain($id: ID!, $userId: ID!) { assignDomain(id: $id, userId: $userId) { __typename ...ErrorFields ... on AssignDomainSuccess { domain { ...DomainFields } } } }`,
  [ErrorFields, DomainFields],
);
export const RotateConsolePassword = graphql(
  `mutation RotateConsolePassword($id: ID!) { rotateConsolePassword(id: $id) { __typename ...ErrorFields ... on RotateConsolePasswordSuccess { console { type listen port } } } }`,
  [ErrorFields],
);
export const CreateConsoleTicket = graphql(
  `mutation CreateConsoleTicket($domainId: ID!, $kind: ConsoleKind!) {
    createConsoleTicket(domainId: $domainId, kind: $kind) { __typename ...ErrorFields ... on ConsoleTicketSuccess { ticket expiresAt pageUrl websocketUrl } }
  }`,
  [ErrorFields],
);

// ── users, tokens, quotas ────────────────────────────────────────────────────────────────────────────────────

export const SetHostDraining = graphql(
  `mutation SetHostDraining($id: ID!, $draining: Boolean!) { setHostDraining(id: $id, draining: $draining) { __typename ...ErrorFields ... on SetHostDrainingSuccess { host { id name state draining } } } }`,
  [ErrorFields],
);
export const CreateUser = graphql(
  `mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { __typename ...ErrorFields ... on CreateUserSuccess { user { id name role createdAt } } } }`,
  [ErrorFields],
);
export const DeleteUser = graphql(
  `mutation DeleteUser($id: ID!) { deleteUser(id: $id) { __typename ...ErrorFields ... on DeleteUserSuccess { user { id name role createdAt } } } }`,
  [ErrorFields],
);
export const CreateApiToken = graphql(
  `mutation CreateApiToken($userId: ID!, $label: String!, $expiresAt: DateTime) {
    createApiToken(userId: $userId, label: $label, expiresAt: $expiresAt) {
      __typename ...ErrorFields ... on CreateApiTokenSuccess { token apiToken { id label prefix createdAt expiresAt } }
    }
  }`,
  [ErrorFields],
);
export const RevokeApiToken = graphql(
  `mutation RevokeApiToken($id: ID!) { revokeApiToken(id: $id) { __typename ...ErrorFields ... on RevokeApiTokenSuccess { apiToken { id label prefix revokedAt } } } }`,
  [ErrorFields],
);
export const SetQuota = graphql(
  `mutation SetQuota($userId: ID!, $input: QuotaInput!) {
    setQuota(userId: $userId, input: $input) {
      __typename ...ErrorFields
      ... on SetQuotaSuccess { quota { limits { maxDomains maxVcpus maxMemoryMiB maxDiskGiB maxInterfaces maxPortForwards } usage { domains vcpus memoryMiB diskGiB interfaces portForwards } } }
    }
  }`,
  [ErrorFields],
);

// ── networks, port forwards, images ──────────────────────────────────────────────────────────────────────────

export const CreateNetwork = graphql(
  `mutation CreateNetwork($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename ...ErrorFields ... on CreateNetworkSuccess { network { id name active autostart } } } }`,
  [ErrorFields],
);
export const StartNetwork = graphql(
  `mutation StartNetwork($id: ID!) { startNetwork(id: $id) { __typename ...ErrorFields ... on NetworkActionSuccess { network { id name active autostart } } } }`,
  [ErrorFields],
);
export const StopNetwork = graphql(
  `mutation StopNetwork($id: ID!) { stopNetwork(id: $id) { __typename ...ErrorFields ... on NetworkActionSuccess { network { id name active autostart } } } }`,
  [ErrorFields],
);
export const SetNetworkAutostart = graphql(
  `mutation SetNetworkAutostart($id: ID!, $autostart: Boolean!) { setNetworkAutostart(id: $id, autostart: $autostart) { __typename ...ErrorFields ... on NetworkActionSuccess { network { id name active autostart } } } }`,
  [ErrorFields],
);
export const SetNetworkAntiSpoofing = graphql(
  `mutation SetNetworkAntiSpoofing($id: ID!, $enabled: Boolean!) { setNetworkAntiSpoofing(id: $id, enabled: $enabled) { __typename ...ErrorFields ... on NetworkActionSuccess { network { id name active autostart } } } }`,
  [ErrorFields],
);
export const DeleteNetwork = graphql(
  `mutation DeleteNetwork($id: ID!) { deleteNetwork(id: $id) { __typename ...ErrorFields ... on DeleteNetworkSuccess { deletedId network { id name } } } }`,
  [ErrorFields],
);
export const AddPortForward = graphql(
  `mutation AddPortForward($input: AddPortForwardInput!) { addPortForward(input: $input) { __typename ...ErrorFields ... on AddPortForwardSuccess { portForward { id protocol hostPort guestPort guestIpv4 domain { id name } } } } }`,
  [ErrorFields],
);
export const RemovePortForward = graphql(
  `mutation RemovePortForward($id: ID!) { removePortForward(id: $id) { __typename ...ErrorFields ... on RemovePortForwardSuccess { portForward { id protocol hostPort guestPort } } } }`,
  [ErrorFields],
);
export const AddImage = graphql(
  `mutation AddImage($name: String!, $path: String!) { addImage(name: $name, path: $path) { __typename ...ErrorFields ... on AddImageSuccess { image { name sizeBytes sha256 path } } } }`,
  [ErrorFields],
);
export const RemoveImage = graphql(
  `mutation RemoveImage($name: String!) { removeImage(name: $name) { __typename ...ErrorFields ... on RemoveImageSuccess { image { name } } } }`,
  [ErrorFields],
);
export const CreateImageUpload = graphql(
  `mutation CreateImageUpload($input: CreateImageUploadInput!) {
    createImageUpload(input: $input) { __typename ...ErrorFields ... on CreateImageUploadSuccess { upload { id name pool sizeBytes uploadUrl expiresAt } } }
  }`,
  [ErrorFields],
);

// ── storage pools (admins) ───────────────────────────────────────────────────────────────────────────────────

export const StoragePoolFields = graphql(`
  fragment StoragePoolFields on StoragePool @_unmask {
    id name uuid type state active autostart persistent path vgName sourceDevices capacityBytes allocationBytes availableBytes definedByVirtplane
  }
`);

export const StoragePools = graphql(
  `
  query StoragePools($first: Int, $after: String) {
    storagePools(first: $first, after: $after) { totalCount edges { node { ...StoragePoolFields } } pageInfo { hasNextPage endCursor } }
  }
`,
  [StoragePoolFields],
);
export const CreateStoragePool = graphql(
  `mutation CreateStoragePool($input: CreateStoragePoolInput!) { createStoragePool(input: $input) { __typename ...ErrorFields ... on CreateStoragePoolSuccess { storagePool { ...StoragePoolFields } } } }`,
  [ErrorFields, StoragePoolFields],
);
export const StartStoragePool = graphql(
  `mutation StartStoragePool($id: ID!) { startStoragePool(id: $id) { __typename ...ErrorFields ... on StoragePoolActionSuccess { storagePool { ...StoragePoolFields } } } }`,
  [ErrorFields, StoragePoolFields],
);
export const StopStoragePool = graphql(
  `mutation StopStoragePool($id: ID!) { stopStoragePool(id: $id) { __typename ...ErrorFields ... on StoragePoolActionSuccess { storagePool { ...StoragePoolFields } } } }`,
  [ErrorFields, StoragePoolFields],
);
export const DeleteStoragePool = graphql(
  `mutation DeleteStoragePool($id: ID!) { deleteStoragePool(id: $id) { __typename ...ErrorFields ... on StoragePoolActionSuccess { storagePool { ...StoragePoolFields } } } }`,
  [ErrorFields, StoragePoolFields],
);
