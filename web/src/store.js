// Conversations live in this browser only (localStorage); nothing about them is sent anywhere but
// the messages of the conversation being answered.

const ITEM = 'bantam.conversations.v1';
const ACTIVE_ITEM = 'bantam.activeConversation';

export const DEFAULT_SETTINGS = { temperature: 0.7, top_p: 0.95, max_tokens: 512 };

export function newConversation() {
  return {
    id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`,
    title: 'New conversation',
    messages: [],
    system: '',
    settings: { ...DEFAULT_SETTINGS },
    model: '',
    allowCloud: false, // off by default: nothing leaves the device until the person says so
    route: 'auto',
    updated: Date.now(),
  };
}

export function loadConversations() {
  try {
    const list = JSON.parse(localStorage.getItem(ITEM) || '[]');
    return Array.isArray(list) ? list.filter((c) => c && typeof c.id === 'string' && Array.isArray(c.messages)) : [];
  } catch {
    return [];
  }
}

export function saveConversations(list) {
  try {
    localStorage.setItem(ITEM, JSON.stringify(list));
    return true;
  } catch {
    return false; // storage full or disabled: the conversation still works for this page
  }
}

export function activeId() {
  return localStorage.getItem(ACTIVE_ITEM) || '';
}

export function setActiveId(id) {
  localStorage.setItem(ACTIVE_ITEM, id);
}
