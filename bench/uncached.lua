-- wrk script: directory queries that always miss pitwall's per-query answer cache.
-- src/api/directory.c keys its cache on (city, make, is_specialist, include_busy, limit),
-- keeps answers 1 s and clears the whole cache when it holds 4096 entries. Each wrk thread
-- cycles, in order, through its own 12 cities x 7 makes x 50 limits = 4200 distinct keys
-- (thread 1 the first 7 makes, thread 2 the other 7): between two visits of one key there
-- are at least 4199 other misses, so the cache has been cleared in between and every
-- request is computed afresh. Realistic queries: every city and make of the demo data.
local cities = {"Toronto", "Mississauga", "Brampton", "Markham", "Vaughan", "Vancouver",
                "Montreal", "Calgary", "Ottawa", "Edmonton", "Winnipeg", "Halifax"}
local makes = {"Tesla", "BMW", "Audi", "Honda", "Toyota", "Ford", "Chevrolet",
               "Mercedes-Benz", "Volkswagen", "Hyundai", "Kia", "Nissan", "Subaru", "Mazda"}
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local i = 0
local paths = {}
function init(args)
  local base = ((tid or 0) % 2) * 7
  for c = 1, #cities do
    for m = 1, 7 do
      for limit = 1, 50 do
        paths[#paths + 1] = string.format(
          "/api/mechanics/available?is_specialist=true&vehicle_make=%s&city=%s&limit=%d",
          makes[base + m], cities[c], limit)
      end
    end
  end
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
