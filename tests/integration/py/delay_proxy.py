"""A TCP relay that holds every chunk it forwards for a fixed delay, in
both directions (order kept): a replica link with a known, large lag.

usage: delay_proxy.py --listen PORT --to PORT [--delay-ms 300]

Prints "ready" once it listens; runs until killed.
"""
import argparse
import asyncio
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def pump():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(pump())
    try:
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time() + delay, data))
            if not data:
                break
        await task
    except (ConnectionError, OSError):
        task.cancel()
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", type=int, required=True)
    ap.add_argument("--delay-ms", type=int, default=300)
    a = ap.parse_args()
    delay = a.delay_ms / 1000.0

    async def serve(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1", a.to)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, swriter, delay), pipe(sreader, cwriter, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(serve, "127.0.0.1", a.listen)
    print("ready", flush=True)
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


asyncio.run(main())
