// vpsmon dashboard: refreshes the fleet page from /api/status in place (no reload, no flicker).
// Builds nodes with textContent only, so no label value is ever parsed as HTML.
(function () {
  'use strict';
  var body = document.body;
  if (!body || body.dataset.page !== 'fleet') { return; }
  var every = parseFloat(body.dataset.refreshSeconds);
  if (!(every > 0)) { every = 30; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function num(v) { return v === null || v === undefined ? '' : String(v); }

  function metric(name, label, level, value, shown) {
    var d = el('div', 'm' + (level ? ' ' + level : ''));
    d.dataset.metric = name;
    d.dataset.value = num(value);
    d.appendChild(el('dt', null, label));
    d.appendChild(el('dd', null, shown));
    return d;
  }

  function card(v) {
    var up = v.status === 'healthy';
    var c = el('article', 'card ' + (up ? 'up' : 'down'));
    c.dataset.agent = v.hostname;
    var h = el('h3');
    h.dataset.search = v.search;
    var a = el('a', null, v.hostname);
    a.href = v.href;
    h.appendChild(a);
    h.appendChild(document.createTextNode(' '));
    h.appendChild(el('span', 'state', up ? 'up' : 'down'));
    c.appendChild(h);
    var dl = el('dl');
    dl.appendChild(metric('cpu', 'CPU', v.levels.cpu, v.data.cpu.percent, v.display.cpu));
    dl.appendChild(metric('memory', 'Memory', v.levels.memory, v.data.memory.percent, v.display.memory));
    dl.appendChild(metric('disk', 'Disk', v.levels.disk, v.data.disk.percent, v.display.disk));
    dl.appendChild(metric('load', 'Load/CPU', v.levels.load, v.data.load.per_cpu, v.display.load));
    dl.appendChild(metric('net_in', 'Net in', '', v.data.network.receive_bytes_per_second, v.display.net_in));
    dl.appendChild(metric('net_out', 'Net out', '', v.data.network.transmit_bytes_per_second, v.display.net_out));
    c.appendChild(dl);
    var age = el('p', 'age', 'Last scrape ');
    var span = el('span', null, v.display.last_scrape);
    span.dataset.metric = 'last_scrape';
    age.appendChild(span);
    c.appendChild(age);
    if (v.error) { c.appendChild(el('p', 'err', v.error)); }
    if (v.firing_alerts > 0) { c.appendChild(el('p', 'err alerts', v.firing_alerts + ' firing')); }
    return c;
  }

  function cell(text, cls, metric) {
    var td = el('td', cls, text);
    if (metric) { td.dataset.metric = metric; }
    return td;
  }

  // A compact table row per agent (the rows view), as row.html draws it.
  function row(v) {
    var up = v.status === 'healthy';
    var tr = el('tr', 'agent ' + (up ? 'up' : 'down'));
    tr.dataset.agent = v.hostname;
    var name = el('td');
    name.dataset.search = v.search;
    var a = el('a', null, v.hostname);
    a.href = v.href;
    name.appendChild(a);
    tr.appendChild(name);
    tr.appendChild(cell(up ? 'up' : 'down', 'state'));
    tr.appendChild(cell(v.display.cpu, 'm ' + v.levels.cpu, 'cpu'));
    tr.appendChild(cell(v.display.memory, 'm ' + v.levels.memory, 'memory'));
    tr.appendChild(cell(v.display.disk, 'm ' + v.levels.disk, 'disk'));
    tr.appendChild(cell(v.display.load, 'm ' + v.levels.load, 'load'));
    tr.appendChild(cell(v.display.net_in));
    tr.appendChild(cell(v.display.net_out));
    tr.appendChild(cell(v.display.last_scrape));
    tr.appendChild(cell(v.firing_alerts > 0 ? v.firing_alerts + ' firing' : '', 'alerts'));
    return tr;
  }

  // The filter box: hides what does not match at once (the server applies the same `q` on the
  // next refresh and on a reload, where it is kept in the URL).
  var filter = document.getElementById('filter');
  function needle() { return filter ? filter.value.trim().toLowerCase() : ''; }
  function shownText(n, total, agentsWord, q, sort) {
    var t = q ? n + ' of ' + total + ' ' + agentsWord + ' match “' + q + '”' : n + ' ' + agentsWord;
    return sort === 'worst' ? t + ', worst first' : t;
  }
  function applyFilter() {
    var q = needle();
    var n = 0;
    // The name's cell or heading holds the text; its row or card is what hides.
    document.querySelectorAll('[data-search]').forEach(function (e) {
      var match = e.dataset.search.indexOf(q) >= 0;
      e.closest('[data-agent]').hidden = !match;
      if (match) { n += 1; }
    });
    var shown = document.getElementById('shown');
    var params = new URLSearchParams(location.search);
    if (filter.value.trim()) { params.set('q', filter.value.trim()); } else { params.delete('q'); }
    history.replaceState(null, '', params.toString() ? '?' + params.toString() : location.pathname);
    shown.dataset.shown = String(n);
    shown.textContent = shownText(n, document.getElementById('sum-total').textContent,
      document.getElementById('sum-total-lbl').textContent, filter.value.trim(),
      params.get('sort') || 'worst');
  }
  // A wider filter needs agents the page does not hold: ask the server once typing pauses.
  var typing = null;
  if (filter) {
    filter.addEventListener('input', function () {
      applyFilter();
      clearTimeout(typing);
      typing = setTimeout(refresh, 500);
    });
  }
  ['sort', 'view'].forEach(function (id) {
    var s = document.getElementById(id);
    if (s) { s.addEventListener('change', function () { s.form.submit(); }); }
  });

  function banner(text, service) {
    var p = el('p', 'banner', text);
    if (service) { p.dataset.service = service; }
    return p;
  }

  function setBox(id, crit) {
    var box = document.getElementById(id);
    if (box) { box.className = 'stat' + (crit ? ' crit' : ''); }
  }

  function render(s) {
    document.getElementById('updated').textContent = s.timestamp;
    document.getElementById('banners').replaceChildren.apply(
      document.getElementById('banners'),
      s.banners.map(function (b) { return banner(b.message, b.service); }));
    document.getElementById('sum-total').textContent = s.summary.total;
    document.getElementById('sum-total-lbl').textContent = s.words.agents;
    document.getElementById('sum-alerts-lbl').textContent = s.words.firing_alerts;
    document.getElementById('sum-up').textContent = s.summary.healthy;
    document.getElementById('sum-down').textContent = s.summary.errors;
    setBox('sum-down-box', s.summary.errors > 0);
    var firing = s.summary.firing_alerts;
    document.getElementById('sum-alerts').textContent = firing === null ? '?' : firing;
    setBox('sum-alerts-box', firing > 0);

    var rowsBody = document.getElementById('rows');
    var items = s.vps.map(rowsBody ? row : card);
    if (s.empty_fleet) {
      if (rowsBody) {
        var etr = el('tr');
        var etd = el('td', 'empty', s.empty_fleet);
        etd.colSpan = 10;
        etr.appendChild(etd);
        items = [etr];
      } else {
        items = [el('p', 'empty', s.empty_fleet)];
      }
    }
    var holder = rowsBody || document.getElementById('cards');
    holder.replaceChildren.apply(holder, items);
    var shown = document.getElementById('shown');
    shown.dataset.shown = String(s.shown);
    shown.textContent = shownText(s.shown, s.summary.total, s.words.agents, s.query.q, s.query.sort);

    var rows = s.alerts.map(function (a) {
      var tr = el('tr', 'sev-' + a.severity);
      [a.alertname, a.agent, a.severity, a.summary].forEach(function (t) { tr.appendChild(el('td', null, t)); });
      var age = el('td', null, a.age);
      age.title = a.starts_at;
      tr.appendChild(age);
      return tr;
    });
    if (rows.length === 0) {
      var tr = el('tr');
      var td = el('td', 'none', firing === null ? 'Unknown: Alertmanager did not answer.' : 'None firing.');
      td.colSpan = 5;
      tr.appendChild(td);
      rows = [tr];
    }
    var tbody = document.getElementById('alerts');
    tbody.replaceChildren.apply(tbody, rows);

    body.dataset.timestamp = String(s.unix_time);
    body.dataset.refreshes = String((parseInt(body.dataset.refreshes, 10) || 0) + 1);
  }

  function refresh() {
    var params = new URLSearchParams(location.search);
    var q = filter ? filter.value.trim() : '';
    if (q) { params.set('q', q); } else { params.delete('q'); }
    var qs = params.toString();
    fetch('/api/status' + (qs ? '?' + qs : ''), { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) { throw new Error('HTTP ' + r.status); }
        return r.json();
      })
      .then(render)
      .catch(function (e) {
        var b = document.getElementById('banners');
        b.replaceChildren(banner('The receiver did not answer /api/status: ' + e.message + ' (the numbers below are old).', 'receiver'));
      });
  }

  setInterval(refresh, every * 1000);
})();
