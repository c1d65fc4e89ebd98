(function () {
  'use strict';
  // Renders the claim lists and claim details of the scrub report from the JSON blocks above.
  // Every value from the claim file goes into the page as text (textContent), never as markup.
  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : [];
  }
  var H = data('data-header'), TEXTS = H.texts, EDITS = H.edits, PAYERS = H.payers, PAGE = H.page;
  var lists = {};

  function txt(x) { return typeof x === 'number' ? TEXTS[x] : (x == null ? '' : String(x)); }
  function payer(ref) { return typeof ref === 'number' ? PAYERS[ref] : [String(ref), '']; }
  function editId(i) { return EDITS[i][0]; }
  function el(tag, props, kids) {
    var node = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (k === 'text') node.textContent = props[k];
        else if (k === 'cls') node.className = props[k];
        else if (k === 'on') node.addEventListener('click', props[k]);
        else node.setAttribute(k, props[k]);
      }
    }
    (kids || []).forEach(function (kid) {
      if (kid != null) node.appendChild(typeof kid === 'string' ? document.createTextNode(kid) : kid);
    });
    return node;
  }
  function num(n) { return n.toLocaleString('en-US'); }
  // One collator for every sort: String.localeCompare with options builds one per call (seconds at 200,000).
  var COLLATE = new Intl.Collator(undefined, {numeric: true}).compare;
  function money(s) { var v = parseFloat(s); return isNaN(v) ? -Infinity : v; }
  function flash(node) { node.classList.remove('flash'); void node.offsetWidth; node.classList.add('flash'); }

  // -- a list of claims: search, filter by edit, sort by column, pages ---------------------------------
  var COLUMNS = {
    full: [['claim', 'Claim'], ['patient', 'Patient'], ['payer', 'Payer'], ['dates', 'Service dates'],
           ['charge', 'Charge'], ['edits', 'Edits']],
    compact: [['claim', 'Claim'], ['payer', 'Payer'], ['dates', 'Service dates'], ['charge', 'Charge']]
  };
  var KEYS = {
    claim: function (r) { return r[0]; },
    patient: function (r) { return r[4]; },
    payer: function (r) { var p = payer(r[1]); return p[1] + ' ' + p[0]; },
    dates: function (r) { return r[3]; },
    charge: function (r) { return money(r[2]); },
    edits: function (r) { return r[6].length * 1000 + (r[6].length ? r[6][0] : 0); }
  };

  function List(kind, rows) {
    this.kind = kind;
    this.rows = rows;
    this.full = kind !== 'accepted';
    this.q = '';
    this.edit = '';
    this.sort = null;
    this.dir = 1;
    this.page = 0;
    this.hay = null;
    this.root = document.querySelector('.index[data-kind="' + kind + '"]');
    this.section = document.getElementById(kind + '-claims');
    this.view = [];
    if (!rows.length) {
      if (!this.section.querySelector('p.warn')) this.root.appendChild(el('p', {cls: 'note', text: 'None.'}));
      return;
    }
    this.build();
    this.apply();
  }

  List.prototype.build = function () {
    var self = this, timer = null;
    this.search = el('input', {type: 'search', 'aria-label': 'Search ' + this.kind + ' claims',
      placeholder: this.full ? 'Search claim, patient, payer or edit' : 'Search claim or payer'});
    this.search.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.q = self.search.value.trim().toLowerCase(); self.page = 0; self.apply(); },
                         self.rows.length > 20000 ? 200 : 60);
    });
    var bar = el('div', {cls: 'toolbar'}, [this.search]);
    if (this.full) {
      var counts = {};
      this.rows.forEach(function (r) { r[6].forEach(function (e) { counts[e] = (counts[e] || 0) + 1; }); });
      this.select = el('select', {'aria-label': 'Only claims with edit'}, [el('option', {value: '', text: 'all edits'})]);
      Object.keys(counts).map(Number).sort(function (a, b) { return editId(a) < editId(b) ? -1 : 1; })
        .forEach(function (e) {
          self.select.appendChild(el('option', {value: editId(e), text: editId(e) + ' (' + num(counts[e]) + ')'}));
        });
      this.select.addEventListener('change', function () { self.filterEdit(self.select.value, false); });
      bar.appendChild(this.select);
    }
    this.count = el('span', {cls: 'note count', 'aria-live': 'polite'});
    bar.appendChild(this.count);
    this.pagers = [this.pager(), this.pager()];
    var head = el('tr');
    COLUMNS[this.full ? 'full' : 'compact'].forEach(function (c) {
      var th = el('th', {'data-col': c[0], cls: c[0] === 'charge' ? 'num' : ''}, [
        el('button', {type: 'button', text: c[1], on: function () { self.sortBy(c[0]); }})]);
      head.appendChild(th);
    });
    this.head = head;
    this.body = el('tbody');
    this.root.appendChild(bar);
    this.root.appendChild(this.pagers[0].node);
    this.root.appendChild(el('table', {cls: 'index ' + this.kind}, [el('thead', null, [head]), this.body]));
    this.root.appendChild(this.pagers[1].node);
  };

  List.prototype.pager = function () {
    var self = this;
    var prev = el('button', {type: 'button', cls: 'prev', text: 'Previous', on: function () { self.go(self.page - 1); }});
    var next = el('button', {type: 'button', cls: 'next', text: 'Next', on: function () { self.go(self.page + 1); }});
    var label = el('span', {cls: 'page-label'});
    return {node: el('div', {cls: 'pager'}, [prev, label, next]), prev: prev, next: next, label: label};
  };

  List.prototype.haystack = function (i) {
    if (!this.hay) this.hay = new Array(this.rows.length);
    var h = this.hay[i];
    if (h === undefined) {
      var r = this.rows[i], p = payer(r[1]);
      h = [r[0], p[0], p[1], r[3]].concat(this.full ? [r[4]].concat(r[6].map(editId)) : []).join('\u0001');
      h = this.hay[i] = h.toLowerCase();
    }
    return h;
  };

  List.prototype.apply = function () {
    var rows = this.rows, view = [], q = this.q, want = -1, i;
    if (this.edit) {
      for (i = 0; i < EDITS.length; i++) if (EDITS[i][0] === this.edit) want = i;
    }
    for (i = 0; i < rows.length; i++) {
      if (this.edit && rows[i][6].indexOf(want) < 0) continue;
      if (q && this.haystack(i).indexOf(q) < 0) continue;
      view.push(i);
    }
    if (this.sort) {
      var key = KEYS[this.sort], dir = this.dir, keys = new Array(rows.length);
      view.forEach(function (j) { keys[j] = key(rows[j]); });
      view.sort(function (a, b) {
        var x = keys[a], y = keys[b];
        return ((typeof x === 'number' ? x - y : COLLATE(x, y)) || a - b) * dir;
      });
    }
    this.view = view;
    this.render();
  };

  List.prototype.pages = function () { return Math.max(1, Math.ceil(this.view.length / PAGE)); };

  List.prototype.go = function (page) {
    this.page = Math.min(Math.max(0, page), this.pages() - 1);
    this.render();
  };

  List.prototype.render = function () {
    var self = this, start = this.page * PAGE, shown = this.view.slice(start, start + PAGE);
    var frag = document.createDocumentFragment();
    shown.forEach(function (i) { frag.appendChild(self.row(i)); });
    this.body.textContent = '';
    this.body.appendChild(frag);
    var total = this.rows.length, n = this.view.length;
    this.count.textContent = n === total ? num(total) + (total === 1 ? ' claim' : ' claims') :
      num(n) + ' of ' + num(total) + ' claims' + (this.edit ? ' with ' + this.edit : '') + (this.q ? ' matching the search' : '');
    this.pagers.forEach(function (p) {
      p.label.textContent = n ? 'Claims ' + num(start + 1) + '-' + num(start + shown.length) + ' of ' + num(n) +
        ' (page ' + (self.page + 1) + ' of ' + num(self.pages()) + ')' : 'No claim matches.';
      p.prev.disabled = self.page === 0;
      p.next.disabled = self.page >= self.pages() - 1;
    });
    Array.prototype.forEach.call(this.head.children, function (th) {
      var col = th.getAttribute('data-col');
      if (col === self.sort) th.setAttribute('aria-sort', self.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
  };

  List.prototype.row = function (i) {
    var r = this.rows[i], p = payer(r[1]), self = this;
    var claim = this.full ? el('a', {href: '#claim=' + encodeURIComponent(r[0]), text: r[0] || '(no CLM01)',
      on: function (ev) { ev.preventDefault(); history.replaceState(null, '', this.getAttribute('href')); self.open(i); }})
      : document.createTextNode(r[0]);
    var payerText = p[1] ? p[1] + ' (' + p[0] + ')' : p[0];
    var cells = [el('td', {cls: 'claim'}, [claim])];
    if (this.full) cells.push(el('td', {text: r[4]}));
    cells.push(el('td', {text: payerText}), el('td', {text: r[3]}), el('td', {cls: 'num', text: r[2]}));
    if (this.full) {
      var sev = {};
      r[7].forEach(function (f) { if (f[1]) sev[f[0]] = 1; });
      cells.push(el('td', null, r[6].map(function (e) {
        return el('span', {cls: 'chip ' + (sev[e] ? 'sev-reject' : 'sev-warn'), title: EDITS[e][1], text: editId(e)});
      })));
    }
    return el('tr', {'data-row': String(i)}, cells);
  };

  List.prototype.sortBy = function (col) {
    if (this.sort === col) this.dir = -this.dir; else { this.sort = col; this.dir = col === 'charge' ? -1 : 1; }
    this.page = 0;
    this.apply();
  };

  List.prototype.filterEdit = function (edit, scroll) {
    if (!this.body) return 0;
    this.edit = edit;
    if (this.select) this.select.value = edit;
    this.page = 0;
    this.apply();
    if (scroll) { this.section.scrollIntoView({block: 'start'}); flash(this.section); }
    return this.view.length;
  };

  List.prototype.open = function (i) { showClaim(this, i); };

  // -- one claim: facts, findings, segments with the ones at fault marked ------------------------------
  function showClaim(list, i) {
    var r = list.rows[i], p = payer(r[1]), panel = document.getElementById('claim-detail');
    var rejected = list.kind === 'rejected';
    list.section.parentNode.insertBefore(panel, list.section.nextSibling);
    panel.className = rejected ? 'rejected' : 'warned';
    panel.textContent = '';
    var back = el('a', {href: '#' + list.section.id, text: 'Back to the list', on: function (ev) {
      ev.preventDefault(); list.section.scrollIntoView({block: 'start'}); }});
    panel.appendChild(el('h3', null, ['Claim ' + (r[0] || '(no CLM01)') + ' ',
      el('span', {cls: 'chip ' + (rejected ? 'sev-reject' : 'sev-warn'),
                  text: rejected ? 'rejected' : 'accepted with warnings'}), ' ', back]));
    panel.appendChild(el('dl', {cls: 'facts'}, [
      el('dt', {text: 'payer'}), el('dd', {text: p[1] ? p[1] + ' (' + p[0] + ')' : p[0]}),
      el('dt', {text: 'patient account (CLM01)'}), el('dd', {text: r[0]}),
      el('dt', {text: 'service dates'}), el('dd', {text: r[3] || 'none'}),
      el('dt', {text: 'charge'}), el('dd', {text: r[2]}),
      el('dt', {text: 'patient'}), el('dd', {text: r[4]}),
      el('dt', {text: 'transaction'}), el('dd', {text: r[5]})]));
    var findings = el('tbody');
    r[7].forEach(function (f) {
      findings.appendChild(el('tr', null, [
        el('td', null, [el('a', {href: '#edit=' + editId(f[0]), title: EDITS[f[0]][1], text: editId(f[0])})]),
        el('td', {cls: f[1] ? 'sev-reject' : 'sev-warn', text: f[1] ? 'reject' : 'warn'}),
        el('td', {text: f[2] == null ? 'claim' : String(f[2])}), el('td', {text: f[3]}),
        el('td', {text: f[4]}), el('td', {text: txt(f[5])}),
        el('td', {text: txt(f[6]) + (txt(f[9]) ? ' (confidence: ' + txt(f[9]) + ')' : '')})]));
    });
    panel.appendChild(el('table', {cls: 'findings'}, [el('thead', null, [el('tr', null,
      ['edit', 'severity', 'line', 'code', 'what is wrong', 'how to fix', 'source'].map(function (h) {
        return el('th', {text: h}); }))]), findings]));
    panel.appendChild(segments(r));
    panel.hidden = false;
    panel.scrollIntoView({block: 'start'});
    flash(panel);
  }

  function segments(r) {
    var notes = {}, lines = [], first, wrap = el('div');
    r[7].forEach(function (f) { (notes[f[7]] = notes[f[7]] || []).push(f); });
    if (r[8]) {
      first = r[8][0];
      r[8][1].split('\n').forEach(function (s, k) { lines.push([first + k, s]); });
      wrap.appendChild(el('p', {cls: 'note', text: 'The claim as it is in the file (segment numbers count from its ST):'}));
    } else {
      var seen = {};
      r[7].forEach(function (f) {
        if (f[7] != null && f[8] != null && !seen[f[7]]) { seen[f[7]] = 1; lines.push([f[7], f[8]]); }
      });
      lines.sort(function (a, b) { return a[0] - b[0]; });
      wrap.appendChild(el('p', {cls: 'note', text: 'The segments at fault (segment numbers count from the ST):'}));
    }
    var body = el('tbody'), placed = {};
    lines.forEach(function (ln) {
      var found = notes[ln[0]] || [], cell = el('td', {cls: 'notes'});
      placed[ln[0]] = 1;
      found.forEach(function (f) {
        cell.appendChild(el('p', null, [el('b', {cls: f[1] ? 'sev-reject' : 'sev-warn', text: editId(f[0])}), ' ' + f[4]]));
      });
      var cls = found.length ? (found.some(function (f) { return f[1]; }) ? 'fault' : 'fault warn-only') : '';
      body.appendChild(el('tr', {cls: cls}, [el('td', {cls: 'n', text: String(ln[0])}), el('td', {cls: 'seg', text: ln[1]}), cell]));
    });
    wrap.appendChild(el('table', {cls: 'segments'}, [body]));
    r[7].forEach(function (f) {
      if (f[7] == null || !placed[f[7]]) {
        wrap.appendChild(el('p', {cls: 'note'}, [el('b', {text: editId(f[0])}), ' (about a segment outside the claim) ' + f[4]]));
      }
    });
    return wrap;
  }

  // -- links: #edit=ID filters (and scrolls to the list it filters), #claim=ID opens a claim -----------
  function filterEdit(edit) {
    var target = null;
    ['rejected', 'warned'].forEach(function (k) {
      if (lists[k] && lists[k].filterEdit(edit, false) && !target) target = lists[k];
    });
    target = target || lists.rejected;
    target.section.scrollIntoView({block: 'start'});
    flash(target.section);
  }

  function openById(id) {
    var kinds = ['rejected', 'warned', 'accepted'];
    for (var k = 0; k < kinds.length; k++) {
      var list = lists[kinds[k]];
      if (!list) continue;
      for (var i = 0; i < list.rows.length; i++) {
        if (list.rows[i][0] === id) {
          if (list.full) { list.open(i); return; }
          list.search.value = id; list.q = id.toLowerCase(); list.apply();
          list.section.scrollIntoView({block: 'start'}); flash(list.section);
          return;
        }
      }
    }
  }

  function fromHash() {
    var h = location.hash.slice(1);
    try { h = decodeURIComponent(h); } catch (e) { return; }
    if (h.indexOf('edit=') === 0) filterEdit(h.slice(5));
    else if (h.indexOf('claim=') === 0) openById(h.slice(6));
    else if (h.indexOf('claim-') === 0) openById(h.slice(6));
  }

  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[href^="#edit="]');
    if (!a) return;
    ev.preventDefault();
    history.replaceState(null, '', a.getAttribute('href'));
    filterEdit(a.getAttribute('href').slice(6));
  });
  window.addEventListener('hashchange', fromHash);

  lists.rejected = new List('rejected', data('data-rejected'));
  window.scrubReport = {firstRender: performance.now(), lists: lists, ready: false};
  // The other lists after the first paint: the rejected claims are what billers open the page for.
  setTimeout(function () {
    lists.warned = new List('warned', data('data-warned'));
    lists.accepted = new List('accepted', data('data-accepted'));
    window.scrubReport.ready = true;
    window.scrubReport.allRendered = performance.now();
    fromHash();
  }, 0);
})();
