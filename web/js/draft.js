// The booking draft carried from intake to waiver to payment: the wizard's choices come in
// the URL (so a reload or a shared link keeps them), what the customer typed stays in
// sessionStorage for this tab only.
const KEY = 'pitwall.draft';

export function choices() {
  const q = new URLSearchParams(location.search);
  return {
    plan: q.get('plan'),
    specialist: q.get('specialist') === 'true',
    vehicle_id: q.get('vehicle_id'),
    preferred_mechanic_id: q.get('preferred_mechanic_id') || null,
    routing_type: q.get('routing_type') === 'priority_broadcast' && q.get('preferred_mechanic_id')
      ? 'priority_broadcast' : 'broadcast',
  };
}

export function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || {}; } catch { return {}; }
}

export function save(patch) {
  sessionStorage.setItem(KEY, JSON.stringify({ ...load(), ...patch }));
}

export function clear() {
  sessionStorage.removeItem(KEY);
}

// The same query string, to the next page.
export function next(path) {
  return `${path}${location.search}`;
}
