export type Role = 'ADMIN' | 'TENANT';

/** Who is asking: resolved once per request (or per WebSocket connection) from the bearer token. */
export interface Viewer {
  userId: string;
  name: string;
  role: Role;
  tokenId: string;
}

export const isAdmin = (viewer: Viewer): boolean => viewer.role === 'ADMIN';
