console.log('games');
