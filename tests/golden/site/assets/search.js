// mpk-registry — client-side enhancements.
//
// Progressive enhancement only: every page is complete without this script.
// No dependencies, no network requests; works over http(s) and from file paths.
//
//  * Catalog: live filtering of app cards. Each card carries a lowercase
//    `data-search` string; a card is shown when every word of the query is a
//    substring of it. `?q=` in the page address pre-fills the query.
//  * App pages: tag chips link to the catalog filtered by that tag, and the
//    install command gets a copy button.
(function () {
  'use strict';

  function normalise(text) {
    return String(text || '').toLowerCase().replace(/\s+/g, ' ').trim();
  }

  function queryFromLocation() {
    try {
      return new URLSearchParams(window.location.search).get('q') || '';
    } catch (e) {
      return '';
    }
  }

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  // ---------- Catalog search ----------

  function setupSearch() {
    var input = document.getElementById('search');
    var box = document.getElementById('search-box');
    var list = document.getElementById('app-list');
    if (!input || !list) return;

    var cards = Array.prototype.slice.call(list.querySelectorAll('[data-search]'));
    var haystacks = cards.map(function (card) {
      return normalise(card.getAttribute('data-search'));
    });
    var countEl = document.getElementById('search-count');
    var noResults = document.getElementById('no-results');
    var total = cards.length;

    function apply() {
      var query = normalise(input.value);
      var words = query ? query.split(' ') : [];
      var shown = 0;
      for (var i = 0; i < cards.length; i++) {
        var hay = haystacks[i];
        var match = true;
        for (var j = 0; j < words.length; j++) {
          if (hay.indexOf(words[j]) === -1) {
            match = false;
            break;
          }
        }
        cards[i].hidden = !match;
        if (match) shown++;
      }
      if (countEl) {
        countEl.textContent = words.length
          ? shown + ' of ' + plural(total, 'app')
          : plural(total, 'app');
      }
      if (noResults) noResults.hidden = shown !== 0;
      list.hidden = shown === 0;
    }

    if (box) box.hidden = false;

    var initial = queryFromLocation();
    if (initial && !input.value) input.value = initial;

    input.addEventListener('input', apply);
    input.addEventListener('search', apply);
    input.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && input.value) {
        input.value = '';
        apply();
        event.preventDefault();
      }
    });

    // "/" focuses the search field, unless the user is already typing somewhere.
    document.addEventListener('keydown', function (event) {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
      var target = event.target;
      var tag = target && target.tagName;
      if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (target && target.isContentEditable)) return;
      event.preventDefault();
      input.focus();
      input.select();
    });

    // Browsers may restore the field's value on back/forward navigation.
    window.addEventListener('pageshow', apply);
    apply();
  }

  // ---------- App page ----------

  function setupTagLinks() {
    var links = document.querySelectorAll('a[data-tag]');
    for (var i = 0; i < links.length; i++) {
      var link = links[i];
      var base = link.getAttribute('href') || '';
      link.setAttribute('href', base + '?q=' + encodeURIComponent(link.getAttribute('data-tag')));
      link.title = 'Show apps tagged \u201c' + link.getAttribute('data-tag') + '\u201d';
    }
  }

  function selectContents(el) {
    var selection = window.getSelection && window.getSelection();
    if (!selection || !document.createRange) return;
    var range = document.createRange();
    range.selectNodeContents(el);
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function setupCopyButtons() {
    var blocks = document.querySelectorAll('pre.install-command');
    for (var i = 0; i < blocks.length; i++) {
      (function (pre) {
        var code = pre.querySelector('code') || pre;
        var button = document.createElement('button');
        var timer = null;
        button.type = 'button';
        button.className = 'copy-btn';
        button.textContent = 'Copy';
        button.setAttribute('aria-label', 'Copy install command');

        function flash(text) {
          button.textContent = text;
          if (timer) window.clearTimeout(timer);
          timer = window.setTimeout(function () { button.textContent = 'Copy'; }, 1600);
        }

        button.addEventListener('click', function () {
          var text = code.textContent;
          if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(
              function () { flash('Copied'); },
              function () { selectContents(code); flash('Press Ctrl+C'); }
            );
          } else {
            selectContents(code);
            flash('Press Ctrl+C');
          }
        });

        // The button sits on a wrapper so it stays put while a long command scrolls.
        var wrap = document.createElement('div');
        wrap.className = 'code-wrap';
        pre.parentNode.insertBefore(wrap, pre);
        wrap.appendChild(pre);
        wrap.appendChild(button);
      })(blocks[i]);
    }
  }

  function init() {
    setupSearch();
    setupTagLinks();
    setupCopyButtons();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
