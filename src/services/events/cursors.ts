import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CursorExpiredError } from './hub.js';
import type { EventLog } from './log.js';

/** Marks a block that decrypted under this log's key (two bytes: a forged or foreign block matches 1 in 65,536, and must then name an existing event at its exact time). */
const MAGIC = 0x7663;
const LEGACY = /^event:(\d{1,15})$/;

const foreign = () =>
  new CursorExpiredError(
    'this cursor is not from this server’s event log (another database, or a restored one); re-list the current state and subscribe again without it',
  );

/**
 * Event cursors as clients see them: the event's row id and time, with a marker, in one AES-256 block under
 * the log's own secret (base64url, 22 characters). So a cursor
 * - says nothing of the log: consecutive cursors of a tenant are unrelated strings, not row ids whose gaps
 *   count other tenants' events;
 * - belongs to one log: one from another database fails to decrypt, and one from before a restore names a
 *   row id that now holds an event of another time; both are CURSOR_EXPIRED.
 * The same event always gets the same cursor. Cursors of the older form (`event:<row id>` in base64url) are
 * still taken, for the events that existed when this log got its secret.
 */
export class EventCursors {
  private readonly key: Buffer;
  private readonly legacyThrough: number;
  /** One event goes to many subscribers: its cursor is sealed once. */
  private readonly sealed = new WeakMap<object, string>();

  constructor(private readonly log: EventLog) {
    const identity = log.identity();
    this.key = identity.key;
    this.legacyThrough = identity.legacyThrough;
  }

  encode(e: { seq: number; at: Date }): string {
    let cursor = this.sealed.get(e);
    if (cursor === undefined) {
      cursor = this.seal(e.seq, e.at.getTime());
      this.sealed.set(e, cursor);
    }
    return cursor;
  }

  private seal(seq: number, at: number): string {
    const block = Buffer.alloc(16);
    block.writeUInt16BE(MAGIC, 0);
    block.writeUIntBE(at, 2, 6);
    block.writeBigUInt64BE(BigInt(seq), 8);
    const cipher = createCipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);
    return Buffer.concat([cipher.update(block), cipher.final()]).toString('base64url');
  }

  /**
   * The row id a cursor stands after; null when the text is no event cursor at all. A cursor that is well
   * formed but not this log's (or names an event this log never had) is CURSOR_EXPIRED.
   */
  decode(cursor: string): number | null {
    const raw = Buffer.from(cursor, 'base64url');
    const legacy = LEGACY.exec(raw.toString('latin1'));
    if (legacy) {
      const seq = Number(legacy[1]);
      if (seq > this.legacyThrough) throw foreign();
      return seq;
    }
    if (raw.length !== 16 || raw.toString('base64url') !== cursor) return null;
    const decipher = createDecipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);
    const block = Buffer.concat([decipher.update(raw), decipher.final()]);
    if (block.readUInt16BE(0) !== MAGIC) throw foreign();
    const at = block.readUIntBE(2, 6);
    const seq = block.readBigUInt64BE(8);
    if (seq > BigInt(Number.MAX_SAFE_INTEGER)) throw foreign();
    // The event must still be the one this cursor was made for (after a restore, its row id may hold another);
    // one already pruned is left to retention's check.
    const recorded = this.log.atOf(Number(seq));
    if (recorded !== null && recorded !== at) throw foreign();
    return Number(seq);
  }
}
