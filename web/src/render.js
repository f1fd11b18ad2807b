// Markdown (marked, then DOMPurify, so a model's answer can never run script in the page), code
// blocks with copy buttons, and the badge saying where an answer ran.
import { marked } from 'marked';
import DOMPurify from 'dompurify';

marked.setOptions({ gfm: true, breaks: true });

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  // Plain http on another host has no clipboard API: the old way still works there.
  const area = document.createElement('textarea');
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand('copy');
  area.remove();
  return Promise.resolve();
}

export function renderMarkdown(element, text) {
  element.innerHTML = DOMPurify.sanitize(marked.parse(text || ''));
  for (const pre of element.querySelectorAll('pre')) {
    const button = document.createElement('button');
    button.className = 'copy';
    button.type = 'button';
    button.textContent = 'Copy';
    button.addEventListener('click', () => {
      copyText(pre.querySelector('code')?.textContent ?? pre.textContent).then(() => {
        button.textContent = 'Copied';
        setTimeout(() => (button.textContent = 'Copy'), 1200);
      });
    });
    pre.append(button);
  }
}

const REASONS = {
  policy: "the server's policy",
  requested: 'asked for by this conversation',
  'prompt-too-long': 'prompt too long for this device',
  'cloud-model': 'a cloud model was chosen',
  'latency-budget': 'this device was busy',
  'low-confidence': 'low confidence on this device',
  'high-entropy': 'the device model was unsure',
  'local-failure': 'the device model failed',
  'cloud-failure': 'the cloud failed',
  'local-first': 'the device answers first',
  'consent-never': 'the server never sends to the cloud',
  'consent-missing': 'no consent for the cloud',
};

export function reasonText(rule) {
  if (typeof rule !== 'string' || !rule) return '';
  if (rule.startsWith('safety:')) return `safety rule ${rule.slice(7)}`;
  return REASONS[rule] || rule;
}

function endpointName(endpoint) {
  try {
    return new URL(endpoint).host;
  } catch {
    return String(endpoint);
  }
}

// The badge's lines from an answer's "bantam" object: {route, reason, endpoint, redacted,
// fallback_from, cloud_error, cloud_denied}. sentRoute: what the page asked for ("local" when the
// conversation's cloud switch was off, which is the reason the person wants to read then).
export function badgeParts(meta, sentRoute) {
  if (!meta || typeof meta !== 'object') return { where: 'route not known yet', cloud: false, notes: [] };
  const cloud = meta.route === 'cloud';
  const where = cloud ? `cloud: ${endpointName(meta.endpoint || 'unknown endpoint')}` : 'on this device';
  const notes = [];
  const reason = !cloud && sentRoute === 'local' ? 'cloud switched off for this conversation' : reasonText(meta.reason);
  if (reason) notes.push(reason);
  if (cloud) {
    const redacted = meta.redacted && typeof meta.redacted === 'object' ? Object.entries(meta.redacted) : [];
    notes.push(
      redacted.length
        ? `redacted before leaving: ${redacted.map(([label, n]) => `${label} ×${n}`).join(', ')}`
        : 'nothing redacted'
    );
  }
  if (meta.fallback_from === 'cloud') notes.push('the cloud failed, so this device answered');
  if (typeof meta.cloud_denied === 'string' && meta.cloud_denied) notes.push(`cloud not used: ${reasonText(meta.cloud_denied)}`);
  return { where, cloud, notes };
}

export function renderBadge(element, meta, stats, sentRoute) {
  const { where, cloud, notes } = badgeParts(meta, sentRoute);
  element.replaceChildren();
  element.className = `badge ${meta ? (cloud ? 'cloud' : 'local') : 'pending'}`;
  const place = document.createElement('span');
  place.className = 'where';
  place.textContent = where;
  element.append(place);
  for (const note of notes) {
    const span = document.createElement('span');
    span.className = note.startsWith('redacted') ? 'note redacted' : 'note';
    span.textContent = note;
    element.append(span);
  }
  if (stats && stats.ttftMs != null) {
    const span = document.createElement('span');
    span.className = 'note stats';
    const rate = stats.tokensPerSecond != null ? ` · ${stats.tokensPerSecond.toFixed(1)} tokens/s` : '';
    span.textContent = `first token ${Math.round(stats.ttftMs)} ms${rate}`;
    element.append(span);
  }
  if (meta && meta.fallback_from === 'cloud' && meta.cloud_error) element.title = meta.cloud_error;
}
