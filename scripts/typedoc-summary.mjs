// TypeDoc plugin (loaded by typedoc.json): when the HTML is written, prints one line with the number of
// errors and warnings so far, including zero (TypeDoc's own "Found N errors and M warnings" line appears
// only when there is something to report). `npm run docs:api` ends with it.
import { RendererEvent } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.renderer.on(RendererEvent.END, (event) => {
    const { errorCount, warningCount, validationWarningCount } = app.logger;
    app.logger.info(`API reference: ${errorCount} errors, ${warningCount} warnings (${validationWarningCount} from validation) -> ${event.outputDirectory}`);
  });
}
