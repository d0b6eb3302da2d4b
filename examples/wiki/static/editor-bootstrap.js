// Editor bootstrap (an ES module): mounts the rich-text editor into every
// [data-editor] element and says so on window.editor. Without it the editor
// is an empty box: what release 2 ships to tenants with zero plugins.
const FAULT = '__FAULT__'; // set by the demo server's /control/editor-fault (tests)

function loadPlugins(el) {
  // A bundle that loads but breaks: what the "throw" fault simulates.
  const plugins = FAULT === 'throw' ? undefined : [];
  return plugins.map((p) => p(el));
}

function mount(el) {
  const toolbar = document.createElement('div');
  toolbar.className = 'editor-toolbar';
  const save = document.createElement('button');
  save.id = 'save';
  save.textContent = 'Save';
  toolbar.appendChild(save);
  const surface = document.createElement('div');
  surface.className = 'editor-surface';
  surface.contentEditable = 'true';
  surface.style.minHeight = '200px';
  surface.style.border = '1px solid #888';
  surface.style.padding = '8px';
  el.appendChild(toolbar);
  el.appendChild(surface);
  loadPlugins(el);
  save.addEventListener('click', () => {
    window.editor.saved = surface.textContent;
    el.dataset.saved = 'true';
  });
  el.dataset.ready = 'true';
  return surface;
}

const surfaces = Array.from(document.querySelectorAll('[data-editor]')).map(mount);
window.editor = { initialized: surfaces.length > 0, saved: null };
