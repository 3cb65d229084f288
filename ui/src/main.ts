import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { api } from "./lib/api";
import { AppModel } from "./lib/app.svelte";

const app = new AppModel(api);
const target = document.getElementById("app");
if (!target) throw new Error("index.html has no #app element");
mount(App, { target, props: { app } });
void app.start();
