import { render } from "preact";
import { App } from "./app";
import { loadConfig } from "./config";
import { Store } from "./store";
import "./styles.css";

const root = document.getElementById("app")!;
loadConfig()
  .then((config) => {
    const store = new Store(config, window.sessionStorage);
    store.start();
    root.textContent = "";
    render(<App store={store} />, root);
  })
  .catch((e: Error) => {
    root.textContent = `Haven could not start: ${e.message}`;
  });
