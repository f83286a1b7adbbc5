// Cluster: nodes, services and tasks when this daemon is in a swarm; otherwise the
// daemon's own answer to GET /swarm, and what to do.

import { get, ApiError } from './api.js';
import { h, empty, errorBox, table, td } from './ui.js';

export async function render(view) {
  view.append(h('h1', {}, 'Cluster'));
  let swarm;
  try {
    swarm = await get('/swarm');
  } catch (err) {
    if (err instanceof ApiError && err.status > 0) {
      view.append(empty('This node is not in a swarm.',
        'Nodes, services and their tasks appear here once it joins one (', h('code', {}, 'wharfie swarm init'),
        ' when swarm mode is available). The daemon answered: ', h('em', { id: 'swarm-error' }, err.message)));
    } else view.append(errorBox(err.message));
    return null;
  }
  view.append(h('p', {}, `Swarm ${swarm.ID || ''}`));
  try {
    const [nodes, services, tasks] = await Promise.all([get('/nodes'), get('/services'), get('/tasks')]);
    view.append(h('h2', {}, 'Nodes'), table(['Host', 'Role', 'State', 'Availability'], nodes.map((n) => h('tr', {},
      td('Host', n.Description?.Hostname), td('Role', n.Spec?.Role), td('State', n.Status?.State), td('Availability', n.Spec?.Availability)))));
    view.append(h('h2', {}, 'Services'), table(['Name', 'Replicas', 'Image', 'Tasks running'], services.map((s) => h('tr', {},
      td('Name', s.Spec?.Name), td('Replicas', String(s.Spec?.Mode?.Replicated?.Replicas ?? 'global')),
      td('Image', s.Spec?.TaskTemplate?.ContainerSpec?.Image),
      td('Tasks running', String(tasks.filter((t) => t.ServiceID === s.ID && t.Status?.State === 'running').length))))));
  } catch (err) { view.append(errorBox(err.message)); }
  return null;
}
