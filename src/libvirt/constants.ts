import {
  DOMAIN_EVENT_DETAILS,
  DOMAIN_EVENT_TYPES,
  DOMAIN_STATE_REASONS,
  DOMAIN_STATES,
  type DomainEventType,
  type DomainState,
} from '../model/index.js';

/** libvirt's numeric codes to the names in model/ (whose lists are indexed by libvirt's number). */
export function domainStateName(code: number): DomainState {
  return DOMAIN_STATES[code] ?? 'NOSTATE';
}

export function domainStateReasonName(state: DomainState, code: number): string {
  return DOMAIN_STATE_REASONS[state][code] ?? 'UNKNOWN';
}

export function domainEventName(code: number): DomainEventType | undefined {
  return DOMAIN_EVENT_TYPES[code];
}

export function domainEventDetailName(type: DomainEventType, code: number): string {
  return DOMAIN_EVENT_DETAILS[type][code] ?? 'UNKNOWN';
}

/** Flags of libvirt calls used here (virDomainXMLFlags, virConnectListAllDomainsFlags, …). */
export const VIR_DOMAIN_XML_SECURE = 1;
export const VIR_DOMAIN_XML_INACTIVE = 2;
export const VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1;
export const VIR_DOMAIN_UNDEFINE_NVRAM = 4;
/** virDomainModificationImpact: which definition a device update changes. */
export const VIR_DOMAIN_AFFECT_LIVE = 1;
export const VIR_DOMAIN_AFFECT_CONFIG = 2;
